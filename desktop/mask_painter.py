"""The mask painter: an init image with a paintable mask over it (white = repaint)."""

from __future__ import annotations

import itertools

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QPoint, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPaintEvent, QPen, QWheelEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

UNDO_DEPTH = 30


class MaskPainter(QWidget):
    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumSize(192, 192)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.image = QImage()
        self.mask_image = QImage()
        self.brush_size = 16
        self.erasing = False
        self.mask_visible = True
        self._undo: list[QImage] = []
        self._redo: list[QImage] = []
        self._last: QPointF | None = None
        self.hover: QPointF | None = None  # where the brush outline is drawn (widget coords)
        self.zoom = 1.0  # times the fitted size (wheel); middle-drag pans by `offset`
        self.offset = QPointF(0, 0)
        self._pan_from: QPointF | None = None
        self.setMouseTracking(True)

    # ---- the API the panel (and tests) use -----------------------------------------------
    def set_image(self, image: QImage) -> None:
        self.image = image.convertToFormat(QImage.Format.Format_RGB32)
        self.zoom, self.offset = 1.0, QPointF(0, 0)
        self.mask_image = QImage(self.image.size(), QImage.Format.Format_Grayscale8)
        self.mask_image.fill(0)
        self._undo.clear()
        self._redo.clear()
        self.update()
        self.changed.emit()

    def set_mask(self, mask: QImage) -> None:
        """Replace the mask (scaled to the image size), as one undo step."""
        if self.image.isNull():
            return
        self._push_undo()
        grey = mask.convertToFormat(QImage.Format.Format_Grayscale8)
        if grey.size() != self.image.size():
            grey = grey.scaled(self.image.size())
        self.mask_image = grey.copy()
        self.update()
        self.changed.emit()

    def has_image(self) -> bool:
        return not self.image.isNull()

    def stroke(self, points: list[QPointF | QPoint]) -> None:
        """Paint (or erase) a line through `points`, in image pixels."""
        if self.mask_image.isNull() or not points:
            return
        self._push_undo()
        painter = QPainter(self.mask_image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        painter.setPen(self._pen())
        pts = [QPointF(p) for p in points]
        if len(pts) == 1:
            painter.drawPoint(pts[0])
        for a, b in itertools.pairwise(pts):
            painter.drawLine(a, b)
        painter.end()
        self.update()
        self.changed.emit()

    def invert(self) -> None:
        if self.mask_image.isNull():
            return
        self._push_undo()
        self.mask_image.invertPixels()
        self.update()
        self.changed.emit()

    def clear(self) -> None:
        if self.mask_image.isNull():
            return
        self._push_undo()
        self.mask_image.fill(0)
        self.update()
        self.changed.emit()

    def undo(self) -> bool:
        if not self._undo:
            return False
        self._redo.append(self.mask_image.copy())
        self.mask_image = self._undo.pop()
        self.update()
        self.changed.emit()
        return True

    def redo(self) -> bool:
        """Put back what the last undo took away (a new stroke forgets the redo steps)."""
        if not self._redo:
            return False
        self._undo.append(self.mask_image.copy())
        self.mask_image = self._redo.pop()
        self.update()
        self.changed.emit()
        return True

    def set_mask_visible(self, visible: bool) -> None:
        self.mask_visible = visible
        self.update()

    def painted(self) -> bool:
        """Whether any pixel of the mask is set."""
        if self.mask_image.isNull():
            return False
        data = bytes(self.mask_image.constBits())
        return any(data)

    def mask_png(self) -> bytes:
        array = QByteArray()
        buffer = QBuffer(array)
        buffer.open(QIODevice.OpenModeFlag.WriteOnly)
        self.mask_image.save(buffer, "PNG")  # type: ignore[call-overload]
        buffer.close()
        return bytes(array.data())

    # ---- drawing and the mouse -------------------------------------------------------------
    def image_rect(self) -> QRectF:
        if self.image.isNull():
            return QRectF()
        scale = min(self.width() / self.image.width(), self.height() / self.image.height())
        scale *= self.zoom
        w, h = self.image.width() * scale, self.image.height() * scale
        x = (self.width() - w) / 2 + self.offset.x()
        y = (self.height() - h) / 2 + self.offset.y()
        return QRectF(x, y, w, h)

    def wheelEvent(self, event: QWheelEvent) -> None:
        """Zoom about the centre (1x: the image fits); the brush keeps its image size."""
        steps = event.angleDelta().y() / 120
        if steps:
            self.zoom = max(1.0, min(16.0, self.zoom * 1.25**steps))
            if self.zoom == 1.0:
                self.offset = QPointF(0, 0)
            self.update()
        event.accept()

    def to_image(self, pos: QPointF) -> QPointF:
        rect = self.image_rect()
        scale = self.image.width() / rect.width() if rect.width() else 1.0
        return QPointF((pos.x() - rect.x()) * scale, (pos.y() - rect.y()) * scale)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(34, 34, 34))
        if self.image.isNull():
            painter.setPen(QColor(170, 170, 170))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "open or drop an image")
            return
        rect = self.image_rect()
        painter.drawImage(rect, self.image)
        if self.mask_visible:
            overlay = QImage(self.mask_image.size(), QImage.Format.Format_ARGB32)
            overlay.fill(QColor(255, 40, 40))
            overlay.setAlphaChannel(self.mask_image)
            painter.setOpacity(0.5)
            painter.drawImage(rect, overlay)
        if self.hover is not None and rect.contains(self.hover):
            # the brush's outline, at its size on screen, so a stroke lands where it is seen
            radius = self.brush_size * rect.width() / self.image.width() / 2
            painter.setOpacity(1.0)
            painter.setPen(QPen(QColor(255, 255, 255), 1, Qt.PenStyle.DashLine))
            painter.drawEllipse(self.hover, radius, radius)
        painter.end()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.MiddleButton:
            self._pan_from = event.position() - self.offset
            return
        if event.button() == Qt.MouseButton.LeftButton and self.has_image():
            self._last = self.to_image(event.position())
            self.stroke([self._last])

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        self.hover = event.position()
        self.update()
        if self._pan_from is not None:
            self.offset = event.position() - self._pan_from
            return
        if self._last is None or not (event.buttons() & Qt.MouseButton.LeftButton):
            return
        point = self.to_image(event.position())
        self._draw_segment(self._last, point)
        self._last = point

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        self._last = None
        self._pan_from = None

    def leaveEvent(self, event: object) -> None:
        self.hover = None
        self.update()

    def _draw_segment(self, a: QPointF, b: QPointF) -> None:
        """Continue a drag: no new undo step for each mouse move."""
        painter = QPainter(self.mask_image)
        painter.setPen(self._pen())
        painter.drawLine(a, b)
        painter.end()
        self.update()
        self.changed.emit()

    def _pen(self) -> QPen:
        colour = QColor(0, 0, 0) if self.erasing else QColor(255, 255, 255)
        return QPen(colour, self.brush_size, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap)

    def _push_undo(self) -> None:
        self._redo.clear()
        self._undo.append(self.mask_image.copy())
        del self._undo[:-UNDO_DEPTH]
