"""Bad input is marked before queueing; dropped images fill the panel or show a message."""

from __future__ import annotations

from pathlib import Path

from desktop_helpers import fill_demo, write_png
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QApplication

from desktop.main_window import MainWindow

INFOTEXT = (
    "a castle in the clouds\nNegative prompt: ugly\n"
    "Steps: 12, Sampler: Euler a, CFG scale: 6, Seed: 42, Size: 64x64, Model: sd15"
)


def test_width_100_is_marked_and_the_app_goes_on(window: MainWindow) -> None:
    fill_demo(window)
    window.generate.width_.setValue(100)
    assert window.generate.queue_jobs(1) == []
    assert "multiple of 8" in window.generate.error.text()
    assert "border" in window.generate.width_.styleSheet()
    assert "multiple of 8" in window.statusBar().currentMessage()
    assert window.session.jobs.list() == []
    window.generate.width_.setValue(64)
    assert len(window.generate.queue_jobs(1)) == 1
    assert window.generate.width_.styleSheet() == "" and window.generate.error.text() == ""


def test_dropping_an_a1111_png_fills_the_generate_panel(window: MainWindow, tmp_path: Path) -> None:
    png = write_png(tmp_path / "a1111.png", text={"parameters": INFOTEXT})
    _drop(window, png)
    panel = window.generate
    assert panel.prompt.toPlainText() == "a castle in the clouds"
    assert panel.negative.toPlainText() == "ugly"
    assert panel.seed.value() == 42 and panel.steps.value() == 12


def test_dropping_a_bad_file_shows_a_message(window: MainWindow, tmp_path: Path) -> None:
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    _drop(window, bad)
    assert "Cannot import" in window.statusBar().currentMessage()
    plain = write_png(tmp_path / "plain.png")
    assert not window.import_file(plain)
    assert "no generation metadata" in window.statusBar().currentMessage()
    assert window.isVisible()


def test_prompt_library_save_and_use(window: MainWindow) -> None:
    window.generate.prompt.setPlainText("a quiet harbour")
    window.save_prompt()
    window.generate.prompt.setPlainText("")
    item = window.library.prompts.item(0)
    window.library.prompts.setCurrentItem(item)
    window.library.toggle_favourite()
    item = window.library.prompts.item(0)
    assert item.text().startswith("\u2605")
    window.library._use(item)
    assert window.generate.prompt.toPlainText() == "a quiet harbour"


def _drop(window: MainWindow, path: Path) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    event = QDropEvent(
        QPointF(10, 10),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
    )
    window.dropEvent(event)
    QApplication.processEvents()
