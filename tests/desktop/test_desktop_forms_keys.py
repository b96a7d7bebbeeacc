"""Forms that show what the task uses, the new fields, size checks against the model, and the
keyboard path: Ctrl+Enter queues, Esc cancels, Ctrl+Z/Ctrl+Shift+Z on the mask, Tab moves on,
File > Import settings from image keeps clip skip."""

from __future__ import annotations

from pathlib import Path

import pytest
from desktop_helpers import fill_demo, write_png
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QImage, QKeySequence
from PySide6.QtWidgets import QApplication, QWidget

from core.errors import BadInput
from core.sizes import check_size
from desktop.main_window import MainWindow


def _visible(window: MainWindow, key: str) -> bool:
    panel = window.generate
    return bool(panel.form.isRowVisible(panel._rows[key]))


def test_each_task_shows_only_its_fields(window: MainWindow) -> None:
    panel = window.generate
    panel.model.setCurrentText("demo:sd")
    panel.task.setCurrentText("text2img")
    for key in ("strength", "noise_level", "depth_map", "refiner", "mask", "init_image"):
        assert not _visible(window, key), key
    assert _visible(window, "size")
    panel.task.setCurrentText("inpaint")
    assert all(_visible(window, k) for k in ("init_image", "mask", "mask_blur", "strength"))
    panel.task.setCurrentText("upscale")
    assert _visible(window, "noise_level") and not _visible(window, "size")
    panel.task.setCurrentText("text2img")
    panel.model.setCurrentText("demo:sdxl")
    assert _visible(window, "refiner")
    label = panel.form.labelForField(panel._rows["refiner"])
    assert label is not None and label.text() == "Refiner"
    assert panel.high_noise_frac.prefix().strip() == "hand-off at"


def test_a_hidden_field_never_fails_the_request(window: MainWindow) -> None:
    panel = window.generate
    fill_demo(window, task="inpaint")
    panel.mask_ref.setText("sha256:" + "0" * 64)
    panel.task.setCurrentText("text2img")
    assert panel.request().mask is None and panel.check() is not None


def test_new_fields_reach_the_queued_request(window: MainWindow) -> None:
    panel = window.generate
    fill_demo(window)
    panel.clip_skip.setValue(2)
    panel.batch_size.setValue(2)
    panel.vae.setText("/models/vae.safetensors")
    panel.embedding.setText("/models/style.safetensors")
    request = panel.request()
    assert (request.clip_skip, request.batch_size) == (2, 2)
    assert request.vae == "/models/vae.safetensors"
    assert [e.path for e in request.embeddings] == ["/models/style.safetensors"]
    panel.task.setCurrentText("inpaint")
    panel.mask_blur.setValue(6)
    assert panel.request().mask_blur == 6


def test_sizes_are_checked_against_the_model(window: MainWindow) -> None:
    assert check_size(512, 512, 512) is None
    assert "twice" in (check_size(1088, 512, 512) or "")
    with pytest.raises(BadInput) as refused:
        check_size(2048, 2048, 64)
    assert refused.value.field == "width" and "64x64" in str(refused.value)
    panel = window.generate
    fill_demo(window)  # demo:sd is a 64 px model
    panel.width_.setValue(192)
    panel.height_.setValue(64)
    assert "twice" in panel.warning.text()
    assert panel.check() is not None  # a warning queues
    panel.width_.setValue(2048)
    panel.height_.setValue(2048)
    assert panel.check() is None and panel.queue_jobs() == []
    assert "border" in panel.width_.styleSheet() and "16 times" in panel.error.text()


def test_ctrl_enter_queues_and_esc_cancels(window: MainWindow, qtbot) -> None:
    fill_demo(window)
    assert window.queue_action.shortcuts()[0] == QKeySequence("Ctrl+Return")
    assert window.cancel_action.shortcut() == QKeySequence("Esc")
    window.generate.prompt.setFocus()
    qtbot.keyClick(window.generate.prompt, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    jobs = window.session.jobs.list()
    assert len(jobs) == 1 and window.queue.job_ids() == [jobs[0].id]
    running = window.session.jobs.claim_next("test-worker")
    assert running is not None
    window.session.bridge.jobStarted.emit(running)
    qtbot.keyClick(window.generate.prompt, Qt.Key.Key_Escape)
    assert window.session.jobs.get(running.id).cancel_requested
    assert window.queue.model.text(0, 1) == "cancelling"


def test_tab_moves_focus_out_of_the_prompt(window: MainWindow, qtbot) -> None:
    prompt = window.generate.prompt
    prompt.setPlainText("a fox")
    prompt.setFocus()
    qtbot.keyClick(prompt, Qt.Key.Key_Tab)
    assert prompt.toPlainText() == "a fox"
    focused = QApplication.focusWidget()
    assert isinstance(focused, QWidget) and focused is not prompt


def test_ctrl_z_and_ctrl_shift_z_on_the_mask(window: MainWindow, qtbot) -> None:
    image = QImage(64, 64, QImage.Format.Format_RGB888)
    image.fill(Qt.GlobalColor.blue)
    painter = window.canvas.painter
    painter.set_image(image)
    window.centre.setCurrentWidget(window.canvas)
    painter.stroke([QPointF(10, 10), QPointF(50, 50)])
    assert painter.painted()
    painter.setFocus()
    qtbot.keyClick(painter, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert not painter.painted()
    shift_ctrl = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    qtbot.keyClick(painter, Qt.Key.Key_Z, shift_ctrl)
    assert painter.painted()
    # the brush's outline follows the mouse, at the brush's size on screen
    painter.resize(256, 256)
    painter.brush_size = 16  # image pixels: 64 screen pixels wide at 4x
    centre = painter.image_rect().center().toPoint()
    qtbot.mouseMove(painter, centre)
    qtbot.waitUntil(lambda: painter.hover is not None)
    shot = painter.grab().toImage()
    edge = shot.pixelColor(centre.x() + 32, centre.y())
    inside = shot.pixelColor(centre.x() + 20, centre.y())
    assert edge.lightness() > inside.lightness() + 60


def test_the_canvas_zooms_with_the_wheel_and_pans_with_the_middle_button(
    window: MainWindow, qtbot
) -> None:
    from PySide6.QtCore import QPoint
    from PySide6.QtGui import QWheelEvent

    image = QImage(64, 64, QImage.Format.Format_RGB888)
    image.fill(Qt.GlobalColor.blue)
    painter = window.canvas.painter
    painter.set_image(image)
    painter.resize(256, 256)
    fitted = painter.image_rect().width()
    wheel = QWheelEvent(
        QPointF(128, 128), QPointF(128, 128), QPoint(), QPoint(0, 240),
        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase,
        False,
    )  # fmt: skip
    QApplication.sendEvent(painter, wheel)
    assert painter.image_rect().width() > 1.5 * fitted
    centre = painter.to_image(QPointF(128, 128))
    assert abs(centre.x() - 32) < 1 and abs(centre.y() - 32) < 1  # strokes land where seen
    qtbot.mousePress(painter, Qt.MouseButton.MiddleButton, pos=QPoint(128, 128))
    qtbot.mouseMove(painter, QPoint(160, 128))
    qtbot.mouseRelease(painter, Qt.MouseButton.MiddleButton, pos=QPoint(160, 128))
    assert painter.to_image(QPointF(160, 128)).x() == pytest.approx(centre.x(), abs=1)
    assert not painter.painted()  # panning paints nothing


def test_import_settings_from_image_keeps_clip_skip(window: MainWindow, tmp_path: Path) -> None:
    parameters = (
        "a red fox\nNegative prompt: blurry\nSteps: 3, Sampler: DPM++ 2M Karras, CFG scale: 6,"
        " Seed: 42, Size: 64x64, Clip skip: 2, Hires upscale: 2, Model: demo"
    )
    png = write_png(tmp_path / "a1111.png", text={"parameters": parameters})
    assert "Import settings from image" in window.import_action.text().replace("&", "")
    assert window.import_action.shortcut() == QKeySequence("Ctrl+I")
    from core.formats.importer import import_image

    # A1111 counts "Clip skip: 2" as one layer skipped; diffusers' clip_skip counts 1
    expected = import_image(png, window.session.library).request.clip_skip
    assert expected is not None
    assert window.import_file(png)
    panel = window.generate
    assert panel.clip_skip.value() == expected
    assert panel.scheduler.currentText() == "dpmpp_2m_karras"
    panel.model.setCurrentText("demo:sd")
    [job] = panel.queue_jobs()
    assert job.request.clip_skip == expected
    assert any("Hires" in line for line in window.last_import_unmapped)
