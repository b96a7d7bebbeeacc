"""The sweep dialog: an X parameter with its values and an optional Y one, over the generate
panel's request. `axes()` parses them with the core's `parse_axis` (BadInput when wrong)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Slot
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QWidget,
)

from core.errors import BadInput
from core.queue.sweep import AXIS_FIELDS, parse_axis

if TYPE_CHECKING:
    from core.queue.sweep import Axis
    from core.request import GenerationRequest

NO_AXIS = "(none)"
# one name per swept field, the short one (cfg, not cfg_scale)
AXIS_NAMES = sorted({field: name for name, field in sorted(AXIS_FIELDS.items(), reverse=True)}
                    .values())  # fmt: skip


class SweepDialog(QDialog):
    def __init__(self, template: GenerationRequest, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Sweep")
        self.template = template
        self.x_param = QComboBox()
        self.x_param.addItems(AXIS_NAMES)
        self.x_param.setCurrentText("cfg")
        self.x_values = QLineEdit()
        self.x_values.setPlaceholderText("values, e.g. 3,7,11 (| between values with commas)")
        self.y_param = QComboBox()
        self.y_param.addItems([NO_AXIS, *AXIS_NAMES])
        self.y_values = QLineEdit()
        self.y_values.setPlaceholderText("values (only with a Y parameter)")
        self.error = QLabel()
        self.error.setStyleSheet("color: #d9534f;")
        self.error.setWordWrap(True)
        form = QFormLayout(self)
        form.addRow(QLabel(f"over: {template.task}, {template.model}, {template.prompt[:60]!r}"))
        form.addRow("X parameter", self.x_param)
        form.addRow("X values", self.x_values)
        form.addRow("Y parameter", self.y_param)
        form.addRow("Y values", self.y_values)
        form.addRow(self.error)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self._ok)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def axes(self) -> tuple[Axis, Axis | None]:
        x = parse_axis(f"{self.x_param.currentText()}={self.x_values.text()}", self.template)
        y_name = self.y_param.currentText()
        if y_name == NO_AXIS:
            return x, None
        y = parse_axis(f"{y_name}={self.y_values.text()}", self.template)
        if y.field == x.field:
            raise BadInput("axis", "X and Y sweep the same parameter")
        return x, y

    @Slot()
    def _ok(self) -> None:
        try:
            self.axes()
        except BadInput as exc:
            self.error.setText(str(exc))
            return
        self.accept()
