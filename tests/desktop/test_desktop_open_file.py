"""Opening a PNG with Atelier from a file manager (`atelier-gui FILE`, the desktop entry's %f)
loads its settings into the window: the same import as a drop."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from desktop_helpers import write_png

from core.cli.main import build_parser

INFOTEXT = (
    "a lighthouse at dusk\nNegative prompt: blurry\n"
    "Steps: 9, Sampler: Euler a, CFG scale: 6, Seed: 1234, Size: 64x64, Model: sd15"
)

# The window as `atelier-gui IMAGE` opens it, in a process of its own (the app's event loop
# runs and quits); a timer reads the generate panel once the window is up, then closes it.
LOOK = """
import json, sys
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from desktop.app import application
from desktop.entry import gui_main
from desktop.main_window import MainWindow

app = application()
def look():
    (window,) = [w for w in app.topLevelWidgets() if isinstance(w, MainWindow)]
    print(json.dumps({"prompt": window.generate.prompt.toPlainText(),
                      "seed": window.generate.seed.value(),
                      "status": window.statusBar().currentMessage()}))
    app.quit()
QTimer.singleShot(500, look)
sys.exit(gui_main(sys.argv[1:]))
"""


def test_the_window_opened_with_an_image_shows_its_settings(
    tmp_path: Path, settings_file: Path
) -> None:
    png = write_png(tmp_path / "from files.png", text={"parameters": INFOTEXT})
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", ATELIER_HOME=str(tmp_path / "home"))
    done = subprocess.run(
        [sys.executable, "-c", LOOK, str(png)],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["prompt"] == "a lighthouse at dusk" and seen["seed"] == 1234
    assert "imported from files.png" in seen["status"]


def test_the_gui_launcher_passes_its_file_to_atelier_gui() -> None:
    args = build_parser().parse_args(["gui", "/pictures/a.png"])
    assert args.command == "gui" and args.image == Path("/pictures/a.png")
