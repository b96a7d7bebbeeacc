"""Small input widgets of the generate panel: spin boxes, a file field, the LoRA list, the
project combo."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from core.request import LoraRef

if TYPE_CHECKING:
    from core.library import Library

DEFAULT_PROJECT = "default"
LORA_FILTER = "LoRA weights (*.safetensors)"
IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.webp *.bmp)"
PathRole = Qt.ItemDataRole.UserRole
INVALID_STYLE = "border: 2px solid #d9534f;"


def mark_invalid(fields: Mapping[str, QWidget], error: QLabel, field: str, message: str) -> None:
    """Outline the widget of `field` (when the form has one), its message as its tooltip and
    under the form: how every form shows a BadInput."""
    widget = fields.get(field)
    if widget is not None:
        widget.setStyleSheet(INVALID_STYLE)
        widget.setToolTip(message)
    error.setText(message)


def clear_marks(fields: Mapping[str, QWidget], error: QLabel) -> None:
    for widget in fields.values():
        widget.setStyleSheet("")
        widget.setToolTip("")
    error.clear()


class FileField(QWidget):
    """A line edit with a "..." button that picks a file (or, with `folder`, a folder)."""

    textChanged = Signal(str)

    def __init__(
        self,
        placeholder: str,
        file_filter: str,
        parent: QWidget | None = None,
        *,
        folder: bool = False,
    ) -> None:
        super().__init__(parent)
        self.file_filter = file_filter
        self.folder = folder
        self.edit = QLineEdit()
        self.edit.setPlaceholderText(placeholder)
        self.edit.textChanged.connect(self.textChanged)
        browse = QPushButton("...")
        browse.setFixedWidth(32)
        browse.clicked.connect(self.browse)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.edit, 1)
        row.addWidget(browse)

    def text(self) -> str:
        return self.edit.text()

    def setText(self, text: str) -> None:
        self.edit.setText(text)

    @Slot()
    def browse(self) -> None:
        if self.folder:
            path = QFileDialog.getExistingDirectory(self, "Choose a folder", self.text())
        else:
            path, _ = QFileDialog.getOpenFileName(self, "Choose a file", "", self.file_filter)
        if path:
            self.edit.setText(path)


class ProjectCombo(QComboBox):
    """The project new jobs go into: "default" and the library's projects."""

    def current(self) -> str:
        return self.currentText().strip() or DEFAULT_PROJECT

    def reload(self, library: Library) -> str | None:
        """Refill from the library, keeping the choice; the error text when it is not readable."""
        current, error = self.current(), None
        try:
            names = [p.name for p in library.projects.list()]
        except Exception as exc:  # a busy database: keep what is shown
            names, error = [self.itemText(i) for i in range(self.count())], str(exc)
        self.blockSignals(True)
        self.clear()
        self.addItems(list(dict.fromkeys([DEFAULT_PROJECT, *names, current])))
        self.blockSignals(False)
        self.setCurrentText(current)
        return error

    def set_project(self, name: str) -> None:
        name = name.strip() or DEFAULT_PROJECT
        if self.findText(name) < 0:
            self.addItem(name)
        self.setCurrentText(name)


class LoraList(QWidget):
    """LoRA files, each with a weight in -10..10."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.table = QTableWidget(0, 2)
        self.table.setHorizontalHeaderLabels(["LoRA", "weight"])
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setFixedHeight(84)
        add = QPushButton("Add LoRA...")
        add.clicked.connect(self.add_dialog)
        remove = QPushButton("Remove")
        remove.clicked.connect(self.remove_selected)
        buttons = QHBoxLayout()
        buttons.addWidget(add)
        buttons.addWidget(remove)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.table)
        layout.addLayout(buttons)

    def add_lora(self, path: str, weight: float = 1.0) -> None:
        row = self.table.rowCount()
        self.table.insertRow(row)
        item = QTableWidgetItem(path.replace("\\", "/").rsplit("/", 1)[-1])
        item.setData(PathRole, path)
        item.setToolTip(path)
        self.table.setItem(row, 0, item)
        self.table.setCellWidget(row, 1, dspin_box(-10.0, 10.0, weight, 0.1))
        self.changed.emit()

    def loras(self) -> tuple[LoraRef, ...]:
        refs = []
        for row in range(self.table.rowCount()):
            item = self.table.item(row, 0)
            weight = self.table.cellWidget(row, 1)
            assert item is not None and isinstance(weight, QDoubleSpinBox)
            refs.append(LoraRef(path=str(item.data(PathRole)), weight=weight.value()))
        return tuple(refs)

    def set_loras(self, loras: tuple[LoraRef, ...]) -> None:
        self.table.setRowCount(0)
        for lora in loras:
            self.add_lora(lora.path, lora.weight)
        self.changed.emit()

    @Slot()
    def add_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Add a LoRA", "", LORA_FILTER)
        if path:
            self.add_lora(path)

    @Slot()
    def remove_selected(self) -> None:
        rows = sorted({i.row() for i in self.table.selectedIndexes()}, reverse=True)
        if not rows and self.table.currentRow() >= 0:
            rows = [self.table.currentRow()]
        for row in rows:
            self.table.removeRow(row)
        self.changed.emit()


def spin_box(lo: int, hi: int, value: int, special: str | None, step: int = 1) -> QSpinBox:
    box = QSpinBox()
    box.setRange(lo, hi)
    box.setSingleStep(step)
    if special:
        box.setSpecialValueText(special)
    box.setValue(value)
    return box


def dspin_box(lo: float, hi: float, value: float, step: float) -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setRange(lo, hi)
    box.setSingleStep(step)
    box.setDecimals(2)
    box.setValue(value)
    return box
