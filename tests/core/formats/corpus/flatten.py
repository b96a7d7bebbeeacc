"""Build the import corpus: real images from public repositories, pixels flattened, metadata kept.

Each source image is re-saved as an 8x8 grey image of the same kind that carries every metadata
chunk of the original byte for byte: a PNG's tEXt/zTXt/iTXt/eXIf chunks, a JPEG's APP1-APP15 and
COM segments, a WebP's EXIF and XMP chunks. `SOURCES` says where each file came from; the
licence of each repository is in `manifest.json`. Run it with the repositories fetched as bare
git mirrors under one folder (`<root>/<owner>+<name>/repo`):

    python tests/core/formats/corpus/flatten.py /work/.mirror

A source may drop named PNG chunks (`drop`), to make a workflow-only file from a real one.
"""

from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
import zlib
from pathlib import Path

HERE = Path(__file__).parent
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_KEEP = (b"tEXt", b"zTXt", b"iTXt", b"eXIf")
WEBP_KEEP = (b"EXIF", b"XMP ")


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(type, whole chunk bytes) of every chunk of a PNG."""
    chunks, pos = [], len(PNG_SIGNATURE)
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        chunks.append((kind, data[pos : pos + 12 + length]))
        pos += 12 + length
        if kind == b"IEND":
            break
    return chunks


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def flat_png(data: bytes, drop: tuple[str, ...] = ()) -> bytes:
    kept = []
    for kind, raw in png_chunks(data):
        keyword = raw[8:].split(b"\0", 1)[0].decode("latin-1")
        if kind in PNG_KEEP and keyword not in drop:
            kept.append(raw)
    header = _chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 0, 0, 0, 0))
    pixels = _chunk(b"IDAT", zlib.compress(b"".join(b"\0" + b"\x80" * 8 for _ in range(8))))
    return PNG_SIGNATURE + header + b"".join(kept) + pixels + _chunk(b"IEND", b"")


def _tiny(kind: str) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (128, 128, 128)).save(
        buffer, format=kind, **({"lossless": True} if kind == "WEBP" else {})
    )
    return buffer.getvalue()


def flat_jpeg(data: bytes) -> bytes:
    kept, pos = [], 2
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker == 0xDA:  # start of scan: the metadata is all before it
            break
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if 0xE1 <= marker <= 0xEF or marker == 0xFE:
            kept.append(data[pos : pos + 2 + length])
        pos += 2 + length
    tiny = _tiny("JPEG")
    (app0,) = struct.unpack(">H", tiny[4:6])
    head = tiny[: 4 + app0]  # SOI + the tiny image's own JFIF APP0
    return head + b"".join(kept) + tiny[4 + app0 :]


def flat_webp(data: bytes) -> bytes:
    kept, pos = [], 12
    while pos + 8 <= len(data):
        kind = data[pos : pos + 4]
        (length,) = struct.unpack("<I", data[pos + 4 : pos + 8])
        end = pos + 8 + length + (length & 1)
        if kind in WEBP_KEEP:
            kept.append((kind, data[pos:end]))
        pos = end
    tiny = _tiny("WEBP")
    image = tiny[12:]  # the VP8L chunk
    flags = (0x08 if any(k == b"EXIF" for k, _ in kept) else 0) | (
        0x04 if any(k == b"XMP " for k, _ in kept) else 0
    )
    vp8x = b"VP8X" + struct.pack("<I", 10) + bytes([flags, 0, 0, 0]) + (7).to_bytes(3, "little") * 2
    body = b"WEBP" + vp8x + image + b"".join(raw for _, raw in kept)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def flatten(data: bytes, drop: tuple[str, ...] = ()) -> bytes:
    if data.startswith(PNG_SIGNATURE):
        return flat_png(data, drop)
    if data.startswith(b"\xff\xd8"):
        return flat_jpeg(data)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return flat_webp(data)
    raise ValueError("not a PNG, JPEG or WebP")


def main(root: Path) -> None:
    manifest = json.loads((HERE / "manifest.json").read_text(encoding="utf-8"))
    for entry in manifest["files"]:
        source = entry["source"]
        mirror = root / source["repo"].replace("/", "+") / "repo"
        data = subprocess.run(
            ["git", "-C", str(mirror), "show", f"{source['commit']}:{source['path']}"],
            capture_output=True,
            check=True,
        ).stdout
        out = HERE / entry["file"]
        out.write_bytes(flatten(data, tuple(source.get("drop", ()))))
        print(f"{out.name}: {len(data)} -> {out.stat().st_size} bytes from {source['repo']}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "/work/.mirror"))
