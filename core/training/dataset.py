"""Instance images: a folder in, square training pixels out, with what was done to each recorded.

Every PNG, JPEG or WebP in the folder (not in subfolders, sorted by name) is centre-cropped to
a square and resized to the training resolution; the crop box is recorded so the record says
exactly which pixels were learned. A `name.txt` beside `name.png` is that image's caption (the
same rule as folder batches); images without one get the instance prompt.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import BadInput

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


@dataclass(frozen=True)
class InstanceImage:
    path: str
    sha256: str  # of the file's bytes
    size: tuple[int, int]  # (width, height) as read
    crop: tuple[int, int, int, int]  # (left, top, right, bottom) in the original pixels
    caption: str
    pixels: np.ndarray  # (resolution, resolution, 3) uint8

    def record(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "sha256": self.sha256,
            "size": list(self.size),
            "crop": list(self.crop),
            "caption": self.caption,
        }


def load_instance_images(folder: str, resolution: int, prompt: str) -> list[InstanceImage]:
    """Read and prepare every image of `folder`; BadInput for a folder that cannot be trained on
    (missing, empty, no readable image, an image smaller than half the resolution)."""
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise BadInput("images", f"{folder}: not a folder")
    candidates = sorted(p for p in root.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not candidates:
        raise BadInput(
            "images", f"{folder}: no images (expected {', '.join(IMAGE_SUFFIXES)} files)"
        )
    images, unreadable = [], []
    for path in candidates:
        try:
            images.append(_prepare(path, resolution, prompt))
        except OSError as exc:
            unreadable.append(f"{path.name} ({exc})")
    if not images:
        raise BadInput("images", f"{folder}: no readable image: {'; '.join(unreadable)}")
    if unreadable:
        raise BadInput("images", f"cannot read {'; '.join(unreadable)}")
    return images


def _prepare(path: Path, resolution: int, prompt: str) -> InstanceImage:
    from PIL import Image

    data = path.read_bytes()
    with Image.open(path) as opened:
        opened.load()
        image = opened.convert("RGB")
    width, height = image.size
    if min(width, height) * 2 < resolution:
        raise BadInput(
            "images",
            f"{path}: {width}x{height} is smaller than half the training resolution "
            f"({resolution}x{resolution}); use a larger image or a lower --resolution",
        )
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    crop = (left, top, left + side, top + side)
    square = image.crop(crop).resize((resolution, resolution), Image.Resampling.LANCZOS)
    return InstanceImage(
        path=str(path),
        sha256=hashlib.sha256(data).hexdigest(),
        size=(width, height),
        crop=crop,
        caption=caption_for(path, prompt),
        pixels=np.asarray(square, dtype=np.uint8),
    )


def caption_for(path: Path, prompt: str) -> str:
    """An instance image's caption: its `name.txt` beside it when not empty, else `prompt`."""
    sidecar = path.with_suffix(".txt")
    if sidecar.is_file():
        text = sidecar.read_text(encoding="utf-8").strip()
        if text:
            return text
    return prompt


def to_tensor(images: list[np.ndarray]) -> Any:
    """(N, 3, H, W) float32 in -1..1, what a VAE encodes."""
    import torch

    stacked = np.stack(images).astype(np.float32) / 127.5 - 1.0
    return torch.from_numpy(stacked).permute(0, 3, 1, 2).contiguous()
