"""The window fits a 1280x800 screen and keeps its layout; finished images are shown large and
open in a zoomable viewer that walks the history and compares img2img results with inputs."""

from __future__ import annotations

from collections.abc import Callable

from desktop_outputs import record_outputs
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication

from desktop.main_window import MainWindow

GREEN, RED, BLUE = (20, 200, 40), (220, 30, 30), (30, 60, 220)


def _centre_colour(view: object) -> tuple[int, int, int]:
    image = view.grab().toImage()  # type: ignore[attr-defined]
    colour = image.pixelColor(image.width() // 2, image.height() // 2)
    return colour.red(), colour.green(), colour.blue()


def test_window_fits_1280x800_and_a_long_name_does_not_widen_it(window: MainWindow) -> None:
    hint = window.minimumSizeHint()
    assert hint.width() <= 1280 and hint.height() <= 800
    window.resize(1280, 800)
    QApplication.processEvents()
    assert (window.width(), window.height()) == (1280, 800)
    [output_id] = record_outputs(window, [GREEN], stem="a-very-long-file-name-" * 8)
    assert window.history.select_output(output_id)
    QApplication.processEvents()
    assert window.width() == 1280  # the inspector elides the name instead of growing
    name = window.inspector.file_name
    assert name.toolTip().endswith("a-very-long-file-name-" * 8 + "-0.png")
    assert len(name.elided_text()) < len(name.full_text)
    assert window.history.search.width() >= 150


def test_panel_layout_is_kept_between_sessions(
    make_window: Callable[..., MainWindow],
) -> None:
    first = make_window()
    first.resize(1280, 800)
    first.docks["queue"].hide()
    first.history.splitter.setSizes([100, 300])
    QApplication.processEvents()
    top, bottom = first.history.splitter.sizes()
    first.close()
    again = make_window()
    QApplication.processEvents()
    assert not again.docks["queue"].isVisible()
    top_again, bottom_again = again.history.splitter.sizes()
    assert abs(top_again / (top_again + bottom_again) - top / (top + bottom)) < 0.02
    assert top / (top + bottom) < 0.4  # not the default 3:2


def test_finished_image_is_selected_and_shown_large(window: MainWindow) -> None:
    from core.generation import GeneratedOutput

    ids = record_outputs(window, [RED, GREEN])
    window.centre.setCurrentWidget(window.canvas)
    window.centre.setCurrentWidget(window.history)
    done = GeneratedOutput(output_id=ids[1], run_id=0, path="", seed=101, sha256="", index=1)
    window.outputs_ready([done])
    QApplication.processEvents()
    assert window.history.selected_output_id() == ids[1]
    assert window.inspector.output is not None and window.inspector.output.id == ids[1]
    large = window.history.large
    assert large.width() * large.height() > 192 * 192 and large.has_image()  # the old largest
    assert _centre_colour(large.viewport()) == GREEN


def test_double_click_opens_a_zoomable_viewer_walked_with_arrows(
    window: MainWindow, qtbot: object
) -> None:
    ids = record_outputs(window, [RED, GREEN, BLUE])  # newest first in the gallery: BLUE
    history = window.history
    assert history.select_output(ids[2])
    index = history.model.index(history.model.row_of_id(ids[2]))
    rect = history.view.visualRect(index)
    port = history.view.viewport()
    qtbot.mouseClick(port, Qt.MouseButton.LeftButton, pos=rect.center())  # type: ignore[attr-defined]
    qtbot.mouseDClick(port, Qt.MouseButton.LeftButton, pos=rect.center())  # type: ignore[attr-defined]
    viewer = history.viewer
    assert viewer is not None and viewer.isVisible() and viewer.output_id == ids[2]
    view = viewer.view
    assert view.fitting and view.zoom() > 1.0  # a 64x48 image fitted to a large window
    view.actual_size()
    assert view.zoom() == 1.0
    wheel = QWheelEvent(
        QPointF(10, 10), QPointF(view.mapToGlobal(QPoint(10, 10))), QPoint(), QPoint(0, 120),
        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase,
        False,
    )  # fmt: skip
    QApplication.sendEvent(view.viewport(), wheel)
    assert view.zoom() > 1.2
    qtbot.keyClick(viewer, Qt.Key.Key_F)  # type: ignore[attr-defined]
    assert view.fitting
    qtbot.keyClick(viewer, Qt.Key.Key_Right)  # type: ignore[attr-defined]
    assert viewer.output_id == ids[1] and history.selected_output_id() == ids[1]
    assert _centre_colour(view.viewport()) == GREEN
    qtbot.keyClick(viewer, Qt.Key.Key_Left)  # type: ignore[attr-defined]
    assert viewer.output_id == ids[2]
    assert not viewer.before_button.isEnabled()  # text2img: nothing to compare with


def test_before_after_for_img2img(window: MainWindow, qtbot: object) -> None:
    [output_id] = record_outputs(window, [GREEN], task="img2img", init=RED)
    assert window.history.select_output(output_id)
    viewer = window.history.open_viewer()
    assert viewer is not None and viewer.before_button.isEnabled()
    assert _centre_colour(viewer.view.viewport()) == GREEN
    qtbot.keyClick(viewer, Qt.Key.Key_Space)  # type: ignore[attr-defined]
    assert _centre_colour(viewer.view.viewport()) == RED
    assert "before" in viewer.caption.text()
    qtbot.keyClick(viewer, Qt.Key.Key_Space)  # type: ignore[attr-defined]
    assert _centre_colour(viewer.view.viewport()) == GREEN
