"""A training run's loss curve: the losses by step, painted with QPainter (no plotting library).

The curve keeps every point it is given; painting draws at most one point per pixel column (the
mean of the steps that fall in it), so a 10,000-step run paints as fast as a 100-step one. A
step's loss is noisy (each step draws its own timesteps), so a smoothed line (an exponential
moving average over about a twentieth of the run) is drawn over the raw one.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPaintEvent, QPen, QPolygonF
from PySide6.QtWidgets import QSizePolicy, QWidget

MARGIN = 6
LABEL_PX = 56  # the left margin's width: the loss axis's labels
RAW = QColor(74, 144, 217, 110)  # the steps' own losses, faint
LINE = QColor("#8cc4ff")  # the smoothed loss
GRID = QColor("#555")
TEXT = QColor("#bbb")
BACKGROUND = QColor("#222")


class LossCurve(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.points: list[tuple[int, float]] = []  # (step, loss), in the order they came
        self.total = 0  # the run's steps: the x axis's end
        self.setMinimumSize(200, 120)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setToolTip("training loss by step")

    def sizeHint(self) -> QSize:
        return QSize(360, 160)

    def set_points(self, points: list[tuple[int, float]], total: int = 0) -> None:
        """Show a run's losses (the steps so far, or a finished run's record)."""
        self.points = [(int(s), float(v)) for s, v in points if math.isfinite(float(v))]
        self.total = max(total, self.points[-1][0] if self.points else 0)
        self.update()

    def add_point(self, step: int, loss: float, total: int = 0) -> None:
        """One training step's loss (a step seen again, as after a resume, replaces it)."""
        if not math.isfinite(loss):
            return
        while self.points and self.points[-1][0] >= step:
            self.points.pop()
        self.points.append((step, loss))
        self.total = max(total, step, self.total)
        self.update()

    def clear(self) -> None:
        self.set_points([])

    # ---- painting --------------------------------------------------------------------------
    def plot_rect(self) -> QRectF:
        area: QRectF = QRectF(self.rect()).adjusted(LABEL_PX, MARGIN, -MARGIN, -MARGIN - 14)
        return area

    def smoothed(self) -> list[tuple[int, float]]:
        """The losses as an exponential moving average (a span of about 5% of the run)."""
        span = max(1.0, len(self.points) / 20)
        alpha = 2 / (span + 1)
        out, mean = [], self.points[0][1] if self.points else 0.0
        for step, loss in self.points:
            mean = alpha * loss + (1 - alpha) * mean
            out.append((step, mean))
        return out

    def polyline(self, points: list[tuple[int, float]] | None = None) -> QPolygonF:
        """The curve in widget coordinates (the raw losses unless given others): one point per
        pixel column at most."""
        points = self.points if points is None else points
        area = self.plot_rect()
        if not points or area.width() < 2 or area.height() < 2:
            return QPolygonF()
        lo, hi = self.loss_range()
        first = min(self.points[0][0], 1)
        span = max(1, self.total - first)
        columns: dict[int, list[float]] = {}
        for step, loss in points:
            x = round((step - first) / span * area.width())
            columns.setdefault(x, []).append(loss)
        polygon = QPolygonF()
        for x, losses in sorted(columns.items()):
            mean = sum(losses) / len(losses)
            y = area.bottom() - (mean - lo) / (hi - lo) * area.height()
            polygon.append(QPointF(area.left() + x, y))
        return polygon

    def loss_range(self) -> tuple[float, float]:
        losses = [loss for _, loss in self.points]
        lo, hi = min(losses), max(losses)
        if hi - lo < 1e-9:
            lo, hi = lo - 0.5 * abs(lo or 1), hi + 0.5 * abs(hi or 1)
        return lo, hi

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.fillRect(self.rect(), BACKGROUND)
        area = self.plot_rect()
        painter.setPen(QPen(GRID, 1))
        painter.drawRect(area)
        painter.setPen(TEXT)
        if not self.points:
            painter.drawText(area, Qt.AlignmentFlag.AlignCenter, "loss: no steps yet")
            painter.end()
            return
        lo, hi = self.loss_range()
        label = QRectF(0, 0, LABEL_PX - 4, 14)
        label.moveTopRight(QPointF(area.left() - 4, area.top() - 2))
        painter.drawText(label, Qt.AlignmentFlag.AlignRight, f"{hi:.3g}")
        label.moveBottomRight(QPointF(area.left() - 4, area.bottom() + 2))
        painter.drawText(label, Qt.AlignmentFlag.AlignRight, f"{lo:.3g}")
        step, loss = self.points[-1]
        below = QRectF(area.left(), area.bottom() + 2, area.width(), 14)
        painter.drawText(
            below, Qt.AlignmentFlag.AlignLeft, f"step {step}/{self.total}  loss {loss:.4f}"
        )
        polygon = self.polyline()
        if polygon.size() == 1:
            painter.setPen(QPen(LINE, 1.5))
            painter.drawEllipse(polygon.at(0), 2.0, 2.0)
        else:
            painter.setPen(QPen(RAW, 1.0))
            painter.drawPolyline(polygon)
            painter.setPen(QPen(LINE, 2.0))
            painter.drawPolyline(self.polyline(self.smoothed()))
        painter.end()
