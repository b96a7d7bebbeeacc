"""Looking at images: a zoomable view (fit, 1:1, wheel zoom, pan) and the viewer window that
walks the history with the arrow keys and compares an img2img/inpaint result with its input."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QRectF, Qt, Signal, Slot
from PySide6.QtGui import (
    QKeyEvent,
    QKeySequence,
    QMouseEvent,
    QPainter,
    QPixmap,
    QResizeEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import (
    QDialog,
    QGraphicsPixmapItem,
    QGraphicsScene,
    QGraphicsView,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from desktop.elided_label import ElidedLabel

if TYPE_CHECKING:
    from core.library import Library

ZOOM_STEP = 1.25
ZOOM_RANGE = (0.05, 32.0)


class ImageView(QGraphicsView):
    """One image, fitted to the view until the user zooms (wheel) or asks for 1:1; drag pans."""

    zoomChanged = Signal(float)
    doubleClicked = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.item = QGraphicsPixmapItem()
        self.item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self.scene().addItem(self.item)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        self.setBackgroundBrush(Qt.GlobalColor.darkGray)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(64, 64)
        self.fitting = True
        self.path: str | None = None

    def set_pixmap(self, pixmap: QPixmap, path: str | None = None) -> None:
        self.item.setPixmap(pixmap)
        self.path = path
        self.scene().setSceneRect(QRectF(pixmap.rect()))
        if self.fitting:
            self.fit()

    def show_file(self, path: str | Path) -> bool:
        pixmap = QPixmap(str(path))
        self.set_pixmap(pixmap, str(path))
        return not pixmap.isNull()

    def clear(self) -> None:
        self.set_pixmap(QPixmap())

    def has_image(self) -> bool:
        return not self.item.pixmap().isNull()

    def zoom(self) -> float:
        """Screen (device) pixels per image pixel."""
        return float(self.transform().m11() * self.devicePixelRatioF())

    @Slot()
    def fit(self) -> None:
        self.fitting = True
        if self.has_image():
            self.fitInView(self.item, Qt.AspectRatioMode.KeepAspectRatio)
        self.zoomChanged.emit(self.zoom())

    @Slot()
    def actual_size(self) -> None:
        """One image pixel per screen pixel (on a 2x HiDPI screen, half a logical pixel)."""
        self.fitting = False
        self.resetTransform()
        ratio = self.devicePixelRatioF()
        if ratio != 1.0:
            self.scale(1 / ratio, 1 / ratio)
        self.zoomChanged.emit(self.zoom())

    def zoom_by(self, factor: float) -> None:
        low, high = ZOOM_RANGE
        zoom = self.zoom()
        factor = max(low / zoom, min(high / zoom, factor))
        self.fitting = False
        self.scale(factor, factor)
        self.zoomChanged.emit(self.zoom())

    def wheelEvent(self, event: QWheelEvent) -> None:
        steps = event.angleDelta().y() / 120
        if steps:
            self.zoom_by(ZOOM_STEP**steps)
        event.accept()

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        self.doubleClicked.emit()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if self.fitting:
            self.fit()


class ViewerWindow(QDialog):
    """The zoomable view of one output in a window of its own. Left/Right walk the history
    (through `step`, which returns the next output's (id, path, before-path) or None); Space or
    the Before button shows the input an img2img/inpaint result was made from."""

    def __init__(
        self,
        step: Callable[[int, int], tuple[int, str, str | None] | None],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Viewer")
        self.step = step
        self.output_id: int | None = None
        self.after_path: str | None = None
        self.before_path: str | None = None
        self.view = ImageView()
        self.caption = ElidedLabel()  # a long file name never widens the window
        self.zoom_label = QLabel()
        self.view.zoomChanged.connect(lambda z: self.zoom_label.setText(f"{z * 100:.0f}%"))
        self.fit_button = QPushButton("Fit (F)")
        self.fit_button.clicked.connect(self.view.fit)
        self.one_button = QPushButton("1:1 (1)")
        self.one_button.clicked.connect(self.view.actual_size)
        self.before_button = QPushButton("Before (Space)")
        self.before_button.setCheckable(True)
        self.before_button.toggled.connect(self.show_before)
        self.prev_button = QPushButton("\u2190 Newer")
        self.prev_button.clicked.connect(lambda: self.walk(-1))
        self.next_button = QPushButton("Older \u2192")
        self.next_button.clicked.connect(lambda: self.walk(+1))
        bar = QHBoxLayout()
        for widget in (self.prev_button, self.next_button, self.fit_button, self.one_button):
            widget.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            bar.addWidget(widget)
        self.before_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        bar.addWidget(self.before_button)
        bar.addStretch(1)
        bar.addWidget(self.zoom_label)
        layout = QVBoxLayout(self)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.caption)
        layout.addLayout(bar)
        self.resize(900, 700)

    def show_output(self, output_id: int, path: str, before: str | None) -> None:
        self.output_id, self.after_path, self.before_path = output_id, path, before
        self.before_button.blockSignals(True)
        self.before_button.setChecked(False)
        self.before_button.blockSignals(False)
        self.before_button.setEnabled(before is not None)
        self.view.show_file(path)
        self._caption()

    def _caption(self) -> None:
        shown = (
            "before (the input)"
            if self.before_button.isChecked()
            else Path(self.after_path or "").name
        )
        self.caption.setText(f"output #{self.output_id}: {shown}")
        self.caption.setToolTip(self.after_path or "")

    @Slot(bool)
    def show_before(self, before: bool) -> None:
        path = self.before_path if before else self.after_path
        if path:
            self.view.show_file(path)
        self._caption()

    def walk(self, delta: int) -> bool:
        if self.output_id is None:
            return False
        found = self.step(self.output_id, delta)
        if found is None:
            return False
        self.show_output(*found)
        return True

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        if key in (Qt.Key.Key_Left, Qt.Key.Key_Up):
            self.walk(-1)
        elif key in (Qt.Key.Key_Right, Qt.Key.Key_Down):
            self.walk(+1)
        elif key == Qt.Key.Key_Space and self.before_button.isEnabled():
            self.before_button.toggle()
        elif key == Qt.Key.Key_F:
            self.view.fit()
        elif key == Qt.Key.Key_1:
            self.view.actual_size()
        elif event.matches(QKeySequence.StandardKey.ZoomIn) or key == Qt.Key.Key_Plus:
            self.view.zoom_by(ZOOM_STEP)
        elif event.matches(QKeySequence.StandardKey.ZoomOut) or key == Qt.Key.Key_Minus:
            self.view.zoom_by(1 / ZOOM_STEP)
        else:
            super().keyPressEvent(event)


def input_path(library: Library, record_json: str) -> str | None:
    """The stored input image an output was made from (img2img, inpaint, depth, upscale)."""
    import json

    try:
        inputs = json.loads(record_json).get("inputs", {})
        sha256 = inputs["init_image"]["sha256"]
        asset = library.assets.get(sha256)
    except (ValueError, LookupError, TypeError, AttributeError):
        return None
    if asset is None:
        return None
    path = library.store.root / asset.relpath
    return str(path) if path.is_file() else None
