"""The Train panel's instance images: a folder's images as thumbnails, each with the caption it
will be trained with (its `name.txt` beside it, else the instance prompt: the training
dataset's own rule, `core.training.dataset.caption_for`)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from PySide6.QtCore import QSize, Qt, Slot
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QLabel, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from desktop.thumbnails import ThumbnailCache

ICON_PX = 64
PathRole = Qt.ItemDataRole.UserRole
KeyRole = Qt.ItemDataRole.UserRole + 1
SidecarRole = Qt.ItemDataRole.UserRole + 2  # whether the caption comes from a .txt file


def instance_images(folder: str) -> list[Path]:
    """The images a run on `folder` trains on: as the dataset lists them (no subfolders,
    sorted by name)."""
    from core.training.dataset import IMAGE_SUFFIXES

    root = Path(folder).expanduser()
    if not folder.strip() or not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


class InstanceImages(QWidget):
    def __init__(self, thumbnails: ThumbnailCache, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.thumbnails = thumbnails
        self.thumbnails.ready.connect(self._thumbnail_ready)
        self.list = QListWidget()
        self.list.setIconSize(QSize(ICON_PX, ICON_PX))
        self.list.setWordWrap(True)
        self.list.setUniformItemSizes(True)
        self.summary = QLabel("choose a folder of instance images")
        self.summary.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.summary)
        layout.addWidget(self.list, 1)
        self.folder = ""
        self.prompt = ""

    def show_folder(self, folder: str, prompt: str) -> None:
        """List `folder`'s images with their captions (thumbnails come as they are made)."""
        self.folder, self.prompt = folder, prompt
        self.list.clear()
        paths = instance_images(folder)
        for path in paths:
            item = QListWidgetItem()
            item.setData(PathRole, str(path))
            key = _thumbnail_key(path)
            item.setData(KeyRole, key)
            self.list.addItem(item)
            pixmap = self.thumbnails.get(key, str(path))
            if pixmap is not None:
                item.setIcon(QIcon(pixmap))
        self._captions()
        if not folder.strip():
            self.summary.setText("choose a folder of instance images")
        elif not Path(folder).expanduser().is_dir():
            self.summary.setText(f"{folder}: not a folder")
        elif not paths:
            self.summary.setText(f"{folder}: no images (.png, .jpg, .jpeg, .webp)")

    def set_prompt(self, prompt: str) -> None:
        """The instance prompt changed: the images without a caption file show it."""
        self.prompt = prompt
        self._captions()

    def _captions(self) -> None:
        from core.training.dataset import caption_for

        own = 0
        for row in range(self.list.count()):
            item = self.list.item(row)
            path = Path(str(item.data(PathRole)))
            caption = caption_for(path, self.prompt)
            sidecar = path.with_suffix(".txt").is_file() and caption != self.prompt
            own += sidecar
            item.setData(SidecarRole, sidecar)
            shown = caption or "(no caption: type the instance prompt)"
            item.setText(f"{path.name}\n{shown}")
            source = f"from {path.with_suffix('.txt').name}" if sidecar else "the instance prompt"
            item.setToolTip(f"{path}\ncaption ({source}): {caption}")
        count = self.list.count()
        if count:
            self.summary.setText(
                f"{count} image(s): {own} with a caption file, "
                f"{count - own} with the instance prompt"
            )

    def captions(self) -> list[tuple[str, str]]:
        """(file name, caption) of every image listed, as the run will train them."""
        rows = []
        for row in range(self.list.count()):
            name, _, caption = self.list.item(row).text().partition("\n")
            rows.append((name, caption))
        return rows

    @Slot(str)
    def _thumbnail_ready(self, key: str) -> None:
        for row in range(self.list.count()):
            item = self.list.item(row)
            if item.data(KeyRole) == key:
                pixmap = self.thumbnails.get(key, str(item.data(PathRole)))
                if pixmap is not None:
                    item.setIcon(QIcon(pixmap))


def _thumbnail_key(path: Path) -> str:
    """Names the thumbnail of this file as it is now (a changed file gets a new one)."""
    try:
        stat = path.stat()
        state = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    except OSError:
        state = str(path)
    return "instance-" + hashlib.sha256(state.encode("utf-8")).hexdigest()[:32]
