"""The canvas: the init image with the mask painter and its tools."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QImage, QPixmap
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
ESTIMATED = "depth map: estimated by the model when the job runs"
DEPTH_PX = 256


class CanvasPanel(QWidget):
    useForInpaint = Signal(str, str)  # init image ref, mask ref
    message = Signal(str)

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.init_ref: str | None = None
        self.painter = MaskPainter()
        self.source = QLabel("no image")
        self.depth = QLabel(ESTIMATED)
        self.depth.setWordWrap(True)
        self.depth.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.depth.setFixedWidth(DEPTH_PX)
        self.depth.hide()
        self.depth_pixmap = QPixmap()  # the user's depth map at full size (null: none)
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
        images = QHBoxLayout()
        images.addWidget(self.painter, 1)
        images.addWidget(self.depth)
        layout.addLayout(images, 1)
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
        """The file of a path, `output:ID` or `sha256:HEX` (an asset in the store)."""
        if not ref.startswith(("output:", "sha256:")):
            return ref
        library = self.session.library
        kind, key = ref.split(":", 1)
        try:
            if kind == "sha256":
                asset = library.assets.get(key)
                return str(library.store.root / asset.relpath) if asset else None
            output = library.runs.get_output(int(key))
        except Exception as exc:
            self.message.emit(f"canvas: {exc}")
            return None
        return output.path if output else None

    # ---- the depth map (depth task) ------------------------------------------------------
    @Slot(str, str)
    def show_depth(self, task: str, ref: str) -> None:
        """Beside the image for the depth task: the user's depth map, else a note."""
        self.depth.setVisible(task == "depth")
        path = self._path_of(ref) if ref else None
        self.depth_pixmap = QPixmap(path) if path else QPixmap()
        if self.depth_pixmap.isNull():
            self.depth.clear()
            self.depth.setText(f"cannot open the depth map {ref}" if ref else ESTIMATED)
            return
        self.depth.setPixmap(
            self.depth_pixmap.scaled(
                DEPTH_PX, DEPTH_PX, Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )
        )  # fmt: skip
        self.depth.setToolTip(f"{ref} ({self.depth_pixmap.width()}x{self.depth_pixmap.height()})")

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

    def load_mask(self, ref: str) -> bool:
        """Show a stored mask (`sha256:HEX` or a file) in the painter, to see and edit it."""
        path = self._path_of(ref)
        mask = QImage(path) if path else QImage()
        if mask.isNull():
            self.message.emit(f"canvas: cannot open the mask {ref}")
            return False
        if not self.painter.has_image():  # no init image: paint on a blank one
            blank = QImage(mask.size(), QImage.Format.Format_RGB32)
            blank.fill(Qt.GlobalColor.darkGray)
            self.painter.set_image(blank)
            self.source.setText("no init image: open one, the mask is kept")
        self.painter.set_mask(mask)
        return True

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
