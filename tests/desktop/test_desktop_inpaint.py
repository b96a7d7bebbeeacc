"""Painting a mask on the canvas and running inpaint with it."""

from __future__ import annotations

from pathlib import Path

from desktop_helpers import fill_demo, write_png
from PIL import Image
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from desktop.main_window import MainWindow


def test_painted_mask_is_used_by_inpaint(running_window: MainWindow, qtbot, tmp_path: Path) -> None:
    window = running_window
    canvas = window.canvas
    init = write_png(tmp_path / "init.png")
    window.centre.setCurrentWidget(canvas)
    assert canvas.load(str(init))
    canvas.brush_size_box.setValue(6)
    painter = canvas.painter
    painter.resize(256, 256)
    # a mouse drag across the middle of the image, then a stroke through the painter's API
    rect = painter.image_rect()
    start = QPoint(int(rect.x() + rect.width() * 0.2), int(rect.center().y()))
    end = QPoint(int(rect.x() + rect.width() * 0.8), int(rect.center().y()))
    QTest.mousePress(painter, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    for i in range(1, 11):
        point = start + (end - start) * (i / 10)
        QTest.mouseMove(painter, point)
    QTest.mouseRelease(painter, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, end)
    painter.stroke([QPoint(10, 5), QPoint(20, 5)])
    assert painter.painted()

    fill_demo(window, steps=2, seed=3)
    qtbot.mouseClick(_button(canvas, "Use for inpaint"), Qt.MouseButton.LeftButton)
    assert window.generate.task.currentText() == "inpaint", window.statusBar().currentMessage()
    assert window.generate.model.currentText() == "demo:sd-inpaint"
    mask_ref = window.generate.mask_ref.text()
    assert mask_ref.startswith("sha256:")

    with qtbot.waitSignal(window.session.bridge.jobDone, timeout=90_000) as done:
        jobs = window.generate.queue_jobs(1)
    assert jobs and done.args[0].id == jobs[0].id
    job = window.session.jobs.get(jobs[0].id)
    assert job.request.task == "inpaint" and job.request.mask == mask_ref

    library = window.session.library
    asset = library.assets.get(mask_ref.removeprefix("sha256:"))
    mask = Image.open(library.store.root / asset.relpath).convert("L")
    assert mask.size == (64, 64)
    assert mask.getpixel((32, 32)) == 255  # the drag across the middle
    assert mask.getpixel((15, 5)) == 255  # the API stroke
    assert mask.getpixel((2, 60)) == 0  # never painted
    assert library.masks.list()[0].asset_sha256 == asset.sha256
    output = library.runs.get_output(done.args[1][0].output_id)
    assert asset.sha256 in output.record_json


def test_undo_invert_clear(window: MainWindow, tmp_path: Path) -> None:
    painter = window.canvas.painter
    assert window.canvas.load(str(write_png(tmp_path / "i.png", (32, 32))))
    painter.stroke([QPoint(4, 4)])
    assert painter.painted()
    assert painter.undo() and not painter.painted()
    painter.invert()
    assert painter.mask_image.pixelColor(0, 0).red() == 255
    painter.clear()
    assert not painter.painted()
    assert window.canvas.save_mask() is None  # nothing painted: a message, no mask


def _button(widget, text: str):
    from PySide6.QtWidgets import QPushButton

    return next(b for b in widget.findChildren(QPushButton) if b.text() == text)
