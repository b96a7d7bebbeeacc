"""Input images of a request (init image, mask, depth map): read, checked, put in the store.

An input is given as a file path, `output:ID` (an earlier output: lineage) or `sha256:HEX` (an
asset already in the store). Whatever the form, the resolved request refers to it by content
hash, so a record can be run again after the original file is gone.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import BadInput

if TYPE_CHECKING:
    from core.library import Library

_MODES = {"init_image": "RGB", "mask": "L", "depth_map": "L"}
_ROLES = {"init_image": "input", "mask": "mask", "depth_map": "depth"}
MAX_PIXELS = 8192 * 8192


@dataclass(frozen=True)
class LoadedInput:
    field: str
    source: str
    sha256: str
    image: Any
    parent_output_id: int | None = None

    @property
    def ref(self) -> str:
        return f"sha256:{self.sha256}"


def load_input(library: Library, field: str, ref: str) -> LoadedInput:
    """Read the image `ref` for request field `field`, store it, and return it decoded."""
    parent: int | None = None
    if ref.startswith("output:"):
        parent = _output_id(field, ref)
        output = library.runs.get_output(parent)
        if output is None:
            raise BadInput(field, f"{ref}: no such output in this library")
        data = _read(
            field, library.store.root / _asset_relpath(library, field, output.asset_sha256)
        )
    elif ref.startswith("sha256:"):
        data = _read(field, library.store.root / _asset_relpath(library, field, ref[7:]))
    else:
        data = _read(field, Path(ref).expanduser())
    image = decode_image(field, ref, data)
    stored = library.store.put_bytes(data, (image.format or "png").lower())
    library.assets.add(
        stored.sha256,
        str(stored.path.relative_to(library.store.root)),
        stored.size,
        (image.format or "png").lower(),
        _ROLES[field],
        image.width,
        image.height,
    )
    converted = image.convert(_MODES[field])
    return LoadedInput(field, ref, stored.sha256, converted, parent)


def decode_image(field: str, name: str, data: bytes) -> Any:
    """Fully decode image bytes; a non-image or truncated file is a BadInput naming it."""
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(io.BytesIO(data))
        if image.width * image.height > MAX_PIXELS:
            raise BadInput(field, f"{name}: {image.width}x{image.height} is too large")
        image.load()
    except UnidentifiedImageError as exc:
        raise BadInput(field, f"{name}: not an image file (expected PNG, JPEG, WebP...)") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise BadInput(field, f"{name}: truncated or corrupt image ({exc})") from exc
    return image


def _read(field: str, path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise BadInput(field, f"{path}: file not found") from exc
    except OSError as exc:
        raise BadInput(field, f"{path}: cannot read ({exc.strerror or exc})") from exc


def _output_id(field: str, ref: str) -> int:
    try:
        return int(ref.split(":", 1)[1])
    except ValueError as exc:
        raise BadInput(field, f"{ref}: expected output:ID with a number") from exc


def _asset_relpath(library: Library, field: str, sha256: str) -> str:
    asset = library.assets.get(sha256)
    if asset is None:
        raise BadInput(field, f"sha256:{sha256}: no such asset in this library's store")
    return asset.relpath
