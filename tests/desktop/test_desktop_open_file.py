"""Opening a PNG with Atelier from a file manager (`atelier-gui FILE`, the desktop entry's %f)
loads its settings into the window: the same import as a drop."""

from __future__ import annotations

from pathlib import Path

from desktop_helpers import write_png
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from core.cli.main import build_parser
from desktop.app import launch
from desktop.main_window import MainWindow

INFOTEXT = (
    "a lighthouse at dusk\nNegative prompt: blurry\n"
    "Steps: 9, Sampler: Euler a, CFG scale: 6, Seed: 1234, Size: 64x64, Model: sd15"
)


def test_the_window_opened_with_an_image_shows_its_settings(
    qapp: QApplication, tmp_path: Path, settings_file: Path
) -> None:
    png = write_png(tmp_path / "from files.png", text={"parameters": INFOTEXT})
    args = build_parser().parse_args(["--home", str(tmp_path / "home"), "gui", str(png)])
    seen: dict[str, object] = {}

    def look_and_close() -> None:
        (window,) = [w for w in qapp.topLevelWidgets() if isinstance(w, MainWindow)]
        seen["prompt"] = window.generate.prompt.toPlainText()
        seen["seed"] = window.generate.seed.value()
        seen["status"] = window.statusBar().currentMessage()
        qapp.quit()

    QTimer.singleShot(300, look_and_close)
    assert launch(args) == 0
    assert seen["prompt"] == "a lighthouse at dusk" and seen["seed"] == 1234
    assert "imported from files.png" in str(seen["status"])


def test_the_gui_launcher_passes_its_file_to_atelier_gui() -> None:
    args = build_parser().parse_args(["gui", "/pictures/a.png"])
    assert args.command == "gui" and args.image == Path("/pictures/a.png")
