"""Thumbnails made off the GUI thread (Pillow, ~128 px), cached on disk and in memory."""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

from PySide6.QtCore import QObject, QThreadPool, Signal
from PySide6.QtGui import QImage, QPixmap

from desktop.background import run_in_background

THUMB_PX = 128
MEMORY_ITEMS = 3000


class ThumbnailCache(QObject):
    """`get(key, path)` answers at once: the pixmap, or None while it is being made."""

    ready = Signal(str)

    def __init__(self, folder: Path, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.folder = folder
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(2)
        self._pixmaps: OrderedDict[str, QPixmap] = OrderedDict()
        self._pending: set[str] = set()
        self._failed: set[str] = set()

    def get(self, key: str, path: str) -> QPixmap | None:
        pixmap = self._pixmaps.get(key)
        if pixmap is not None:
            self._pixmaps.move_to_end(key)
            return pixmap
        if key not in self._pending and key not in self._failed:
            self._pending.add(key)
            cached = self.folder / f"{key}.png"
            run_in_background(
                lambda: make_thumbnail(Path(path), cached),
                lambda image: self._arrived(key, image),
                lambda _message: self._broken(key),
                self.pool,
            )
        return None

    def wait(self, ms: int = 30_000) -> bool:
        return self.pool.waitForDone(ms)

    def _arrived(self, key: str, image: QImage) -> None:
        self._pending.discard(key)
        self._pixmaps[key] = QPixmap.fromImage(image)  # in the GUI thread
        while len(self._pixmaps) > MEMORY_ITEMS:
            self._pixmaps.popitem(last=False)
        self.ready.emit(key)

    def _broken(self, key: str) -> None:
        self._pending.discard(key)
        self._failed.add(key)


def make_thumbnail(source: Path, cached: Path) -> QImage:
    """In a pool thread: read the cached thumbnail, or make it from the PNG and cache it."""
    from PIL import Image

    if cached.is_file():
        image = QImage(str(cached))
        if not image.isNull():
            return image
    with Image.open(source) as img:
        img.thumbnail((THUMB_PX, THUMB_PX))
        small = img.convert("RGB")
    # keep tiny images (64x64 demo outputs) readable: scale up to the thumbnail size
    if max(small.size) < THUMB_PX:
        factor = THUMB_PX / max(small.size)
        small = small.resize((round(small.width * factor), round(small.height * factor)))
    cached.parent.mkdir(parents=True, exist_ok=True)
    temp = cached.with_suffix(".tmp")
    small.save(temp, "PNG")
    temp.replace(cached)
    data = small.tobytes()
    w, h = small.size
    copied: QImage = QImage(data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
    return copied
