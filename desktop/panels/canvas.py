"""The canvas: the init image with the mask painter and its tools."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Signal, Slot
from PySide6.QtGui import QImage
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from desktop.mask_painter import MaskPainter

if TYPE_CHECKING:
    from desktop.session import Session

IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.webp *.bmp)"


class CanvasPanel(QWidget):
    useForInpaint = Signal(str, str)  # init image ref, mask ref
    message = Signal(str)

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.init_ref: str | None = None
        self.painter = MaskPainter()
        self.source = QLabel("no image")
        self.brush = QRadioButton("Brush")
        self.brush.setChecked(True)
        self.eraser = QRadioButton("Eraser")
        self.eraser.toggled.connect(self._eraser)
        self.brush_size_box = QSpinBox()
        self.brush_size_box.setRange(1, 512)
        self.brush_size_box.setValue(self.painter.brush_size)
        self.brush_size_box.setPrefix("size ")
        self.brush_size_box.valueChanged.connect(self._size)
        self.show_mask = QCheckBox("show mask")
        self.show_mask.setChecked(True)
        self.show_mask.toggled.connect(self.painter.set_mask_visible)
        tools = QHBoxLayout()
        for widget in (self.brush, self.eraser, self.brush_size_box, self.show_mask):
            tools.addWidget(widget)
        actions = QHBoxLayout()
        for text, slot in (
            ("Open...", self.open_dialog), ("Invert", self.painter.invert),
            ("Clear", self.painter.clear), ("Undo", self.painter.undo),
            ("Use for inpaint", self.use_for_inpaint),
        ):  # fmt: skip
            button = QPushButton(text)
            button.clicked.connect(slot)
            actions.addWidget(button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.source)
        layout.addWidget(self.painter, 1)
        layout.addLayout(tools)
        layout.addLayout(actions)

    # ---- the init image --------------------------------------------------------------------
    def load(self, ref: str) -> bool:
        """Show `ref` (a file path or `output:ID`) as the init image, with an empty mask."""
        path = self._path_of(ref)
        image = QImage(path) if path else QImage()
        if image.isNull():
            self.message.emit(f"canvas: cannot open {ref}")
            return False
        self.init_ref = ref
        self.painter.set_image(image)
        self.source.setText(f"{ref} ({image.width()}x{image.height()})")
        return True

    def _path_of(self, ref: str) -> str | None:
        if not ref.startswith("output:"):
            return ref
        try:
            output = self.session.library.runs.get_output(int(ref.split(":", 1)[1]))
        except Exception as exc:
            self.message.emit(f"canvas: {exc}")
            return None
        return output.path if output else None

    @Slot()
    def open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open an init image", "", IMAGE_FILTER)
        if path:
            self.load(path)

    # ---- the mask ------------------------------------------------------------------------
    def save_mask(self) -> str | None:
        """Store the mask PNG in the library; returns its `sha256:` reference."""
        if not self.painter.has_image():
            self.message.emit("canvas: open an image first")
            return None
        if not self.painter.painted():
            self.message.emit("canvas: paint the area to repaint first")
            return None
        library = self.session.library
        try:
            stored = library.store.put_bytes(self.painter.mask_png(), "png")
            relpath = str(Path(stored.path).relative_to(library.store.root))
            w, h = self.painter.mask_image.width(), self.painter.mask_image.height()
            library.assets.add(stored.sha256, relpath, stored.size, "png", "mask", w, h)
            library.masks.add(stored.sha256, w, h, label=self.init_ref or "")
        except Exception as exc:
            self.message.emit(f"canvas: could not save the mask: {exc}")
            return None
        return f"sha256:{stored.sha256}"

    @Slot()
    def use_for_inpaint(self) -> None:
        mask = self.save_mask()
        if mask is not None and self.init_ref is not None:
            self.useForInpaint.emit(self.init_ref, mask)
            self.message.emit("mask saved; the generate panel is set to inpaint")

    @Slot(bool)
    def _eraser(self, on: bool) -> None:
        self.painter.erasing = on

    @Slot(int)
    def _size(self, value: int) -> None:
        self.painter.brush_size = value
