"""PNG files with our metadata: the `atelier` record chunk and the A1111 `parameters` chunk.

Writing is atomic: the file is written under a hidden temporary name in the same folder, synced,
then renamed into place, so a crash never leaves half a PNG under the real name. Reading accepts
any PNG and turns every way a file can be damaged into `BadInput` naming the file. Pillow's limits
on text chunks (`PngImagePlugin.MAX_TEXT_CHUNK`, `MAX_TEXT_MEMORY`) and on image size stay as they
are, and truncated images are never half-loaded.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import BadInput
from core.request import canonical_json

if TYPE_CHECKING:
    from PIL import Image

ATELIER_CHUNK = "atelier"
PARAMETERS_CHUNK = "parameters"
# zlib's fast levels (1-3) against Pillow's default 6, on a smooth 512x512 image: 24 ms against
# 51 ms to encode, 18% larger. Every image is encoded on the worker's thread, so at 6 the PNG
# alone was ~5% of a one-second GPU image (bench/findings.md, 2026-12-03 "night").
PNG_COMPRESS_LEVEL = 3
_MAX_KEYWORD = 79  # PNG spec: a text chunk keyword is 1-79 Latin-1 characters
_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_IEND = b"\x00\x00\x00\x00IEND\xaeB`\x82"  # the empty IEND chunk that closes every PNG
_TAIL = 4096  # how far from the end an IEND chunk is looked for (trailing bytes are tolerated)


def encode_record(record: dict[str, Any]) -> str:
    """The record as canonical JSON: sorted keys, no spaces, UTF-8 kept."""
    return canonical_json(record)


def write_png(
    image: Image.Image,
    path: Path,
    chunks: dict[str, str],
    *,
    compress_level: int = PNG_COMPRESS_LEVEL,
) -> None:
    """Write `image` to `path` as PNG with `chunks` as UTF-8 (iTXt) text chunks, atomically."""
    write_atomic(Path(path), png_bytes(image, chunks, compress_level=compress_level))


def write_atomic(path: Path, data: bytes) -> None:
    """Write to a temporary name in the same folder, fsync, rename: never a half file."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        with open(tmp, "xb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    from core.library.durable import sync_folder  # lazily: core.library loads SQLAlchemy

    sync_folder(path.parent)


def png_bytes(
    image: Image.Image, chunks: dict[str, str], *, compress_level: int = PNG_COMPRESS_LEVEL
) -> bytes:
    """The PNG file `write_png` would write, in memory (for the content-addressed store)."""
    import io

    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    for key, value in chunks.items():
        _check_keyword(key)
        try:
            info.add_itxt(key, value)
        except UnicodeEncodeError as exc:
            raise BadInput(key, f"text chunk is not valid Unicode ({exc.reason})") from exc
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=info, compress_level=compress_level)
    return buffer.getvalue()


def _check_keyword(key: str) -> None:
    try:
        encoded = key.encode("latin-1")
    except UnicodeEncodeError:
        encoded = b""
    if not 1 <= len(encoded) <= _MAX_KEYWORD or b"\0" in encoded or key != key.strip():
        raise BadInput(
            repr(key), "a PNG text keyword is 1-79 Latin-1 characters, no NUL, no outer spaces"
        )


def read_png_text(path: str | os.PathLike[str]) -> dict[str, str]:
    """Every text chunk (tEXt, zTXt, iTXt) of a PNG, by keyword.

    The whole file is read, so a PNG that is cut short or has a broken chunk raises `BadInput`
    naming the file rather than returning part of its text.
    """
    from PIL import Image, UnidentifiedImageError

    name = str(path)
    try:
        with Image.open(path, formats=["PNG"]) as image:
            text = dict(getattr(image, "text", {}))
    except FileNotFoundError as exc:
        raise BadInput(name, "no such file (expected a PNG image)") from exc
    except UnidentifiedImageError as exc:  # Pillow also says this of a PNG with a broken chunk
        if _has_png_signature(path):
            raise BadInput(name, "is damaged (expected valid PNG chunks)") from exc
        raise BadInput(name, "is not a PNG image (expected the PNG signature)") from exc
    except Image.DecompressionBombError as exc:
        raise BadInput(name, f"is too large to read safely ({exc})") from exc
    except OSError as exc:
        if exc.errno is not None:  # a real I/O error: permissions, a folder, a disk fault
            raise BadInput(name, f"cannot be read ({exc.strerror or exc})") from exc
        raise BadInput(name, f"is truncated or damaged (expected a complete PNG: {exc})") from exc
    except Exception as exc:  # Pillow reports broken chunks as SyntaxError, ValueError, ...
        raise BadInput(name, f"is damaged (expected valid PNG chunks: {exc})") from exc
    if not _ends_with_iend(path):
        raise BadInput(name, "is truncated (expected a PNG that ends with its IEND chunk)")
    return {str(key): str(value) for key, value in text.items()}


def _has_png_signature(path: str | os.PathLike[str]) -> bool:
    try:
        with open(path, "rb") as handle:
            return handle.read(len(_SIGNATURE)) == _SIGNATURE
    except OSError:
        return False


def _ends_with_iend(path: str | os.PathLike[str]) -> bool:
    """Pillow reads a PNG whose pixels are whole but whose end is cut off; we do not."""
    try:
        with open(path, "rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(0, size - _TAIL))
            return _IEND in handle.read()
    except OSError as exc:
        raise BadInput(str(path), f"cannot be read ({exc.strerror or exc})") from exc


def read_atelier_record(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The `atelier` record of a PNG as a dict, or None when the PNG has none."""
    text = read_png_text(path).get(ATELIER_CHUNK)
    if text is None:
        return None
    try:
        record = json.loads(text)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, int-digit limit
        raise BadInput(str(path), f"the {ATELIER_CHUNK!r} chunk is not valid JSON ({exc})") from exc
    if not isinstance(record, dict):
        raise BadInput(
            str(path),
            f"the {ATELIER_CHUNK!r} chunk is {type(record).__name__}, expected a JSON object",
        )
    return record


__all__ = [
    "ATELIER_CHUNK",
    "PARAMETERS_CHUNK",
    "encode_record",
    "read_atelier_record",
    "read_png_text",
    "write_png",
]
