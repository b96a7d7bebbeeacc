"""EXIF texts: where AUTOMATIC1111, ComfyUI, SwarmUI and others put metadata in JPEG and WebP.

A1111 writes `piexif.helper.UserComment.dump(text, encoding="unicode")`: the 8-byte
character-set prefix `UNICODE` + NUL, then UTF-16 big-endian. Other tools write little-endian,
a byte-order mark, `ASCII` + 3 NULs (often with UTF-8 behind it), `JIS` + 5 NULs, eight NULs
(undefined) or no prefix at all; each is decoded here. Reading goes through Pillow
(`getexif().get_ifd(0x8769)`); a damaged or truncated file raises `BadInput` naming the file.
"""

from __future__ import annotations

import os
import warnings
from typing import TYPE_CHECKING

from core.errors import BadInput

if TYPE_CHECKING:
    from PIL import Image

EXIF_IFD = 0x8769
USER_COMMENT = 0x9286
MAX_COMMENT_BYTES = 4_000_000
_UNICODE = b"UNICODE\0"
_ASCII = b"ASCII\0\0\0"
_JIS = b"JIS\0\0\0\0\0"
_UNDEFINED = b"\0" * 8
TEXT_TAGS = {0x010E: "ImageDescription", 0x010F: "Make", 0x0110: "Model"}
_PIL_FORMATS = {"jpeg": "JPEG", "webp": "WEBP"}


def sniff_format(path: str | os.PathLike[str]) -> str:
    """ "png", "jpeg" or "webp" from the file's first bytes; BadInput for anything else."""
    name = str(path)
    try:
        with open(path, "rb") as handle:
            head = handle.read(12)
    except FileNotFoundError as exc:
        raise BadInput(name, "no such file (expected a PNG, JPEG or WebP image)") from exc
    except OSError as exc:
        raise BadInput(name, f"cannot be read ({exc.strerror or exc})") from exc
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    raise BadInput(name, "is not a PNG, JPEG or WebP image (expected one of their signatures)")


def read_exif_texts(path: str | os.PathLike[str], kind: str) -> dict[str, str]:
    """Every EXIF text a generator writes to, by where it was: the UserComment (A1111, SwarmUI,
    NovelAI, Civitai), ImageDescription, Make and Model (ComfyUI's `prompt:`/`workflow:` in WebP),
    and a JPEG `COM` comment. Empty texts are left out.
    """
    from PIL import Image, UnidentifiedImageError

    name = str(path)
    if kind == "webp":
        _check_riff_size(path)
    try:
        # Pillow warns (rather than raises) of broken EXIF: the warnings become the message.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            raw, tags, comment = _read(Image.open(path, formats=[_PIL_FORMATS[kind]]), kind)
        if raw is None and not tags and caught:
            raise BadInput(name, f"has damaged EXIF data ({caught[0].message})")
    except BadInput:
        raise
    except UnidentifiedImageError as exc:
        raise BadInput(name, f"is damaged (expected a valid {kind.upper()} image)") from exc
    except Image.DecompressionBombError as exc:
        raise BadInput(name, f"is too large to read safely ({exc})") from exc
    except OSError as exc:
        if exc.errno is not None:
            raise BadInput(name, f"cannot be read ({exc.strerror or exc})") from exc
        raise BadInput(name, f"is truncated or damaged (expected a complete image: {exc})") from exc
    except Exception as exc:  # Pillow reports broken EXIF as SyntaxError, ValueError, struct.error
        raise BadInput(name, f"is damaged (expected valid EXIF: {exc})") from exc
    texts: dict[str, str] = {}
    if raw is not None:
        if not isinstance(raw, (bytes, str)):
            raise BadInput(name, f"the EXIF UserComment is {type(raw).__name__}, expected bytes")
        _check_size(name, "EXIF UserComment", raw)
        text = raw if isinstance(raw, str) else decode_user_comment(raw)
        texts["EXIF UserComment"] = text
    for tag, value in tags.items():
        if isinstance(value, (bytes, str)):
            _check_size(name, f"EXIF {tag}", value)
            texts[f"EXIF {tag}"] = _as_text(value)
    if isinstance(comment, (bytes, str)) and comment:
        _check_size(name, "JPEG comment", comment)
        texts["JPEG comment"] = _as_text(comment)
    return {where: text.rstrip("\0") for where, text in texts.items() if text.strip("\0 \n")}


def _check_size(name: str, where: str, value: bytes | str) -> None:
    if len(value) > MAX_COMMENT_BYTES:
        raise BadInput(name, f"the {where} is {len(value)} bytes; expected <= {MAX_COMMENT_BYTES}")


def _as_text(value: bytes | str) -> str:
    return value if isinstance(value, str) else value.decode("utf-8", errors="replace")


def _read(image: Image.Image, kind: str) -> tuple[object, dict[str, object], object]:
    """(UserComment value, text tags of IFD0, JPEG comment) of an open image, then closed."""
    with image:
        exif = image.getexif()
        # the Exif sub-IFD is where UserComment belongs; some savers put it in IFD0
        raw = exif.get_ifd(EXIF_IFD).get(USER_COMMENT, exif.get(USER_COMMENT))
        tags = {name: exif.get(tag) for tag, name in TEXT_TAGS.items() if tag in exif}
        comment = image.info.get("comment")
        if kind == "jpeg":  # decode (at 1/8 size) to the end: a cut-off file fails here
            image.draft("RGB", (max(1, image.width // 8), max(1, image.height // 8)))
            image.load()
    return raw, tags, comment


def decode_user_comment(raw: bytes) -> str:
    """The text of a UserComment value: its 8-byte character-set prefix decides the decoding."""
    prefix, body = raw[:8], raw[8:]
    if prefix == _UNICODE:
        return _utf16(body)
    if prefix == _JIS:
        return body.decode("shift_jis", errors="replace")
    if prefix in (_ASCII, _UNDEFINED):  # ASCII is a superset-compatible guess: UTF-8 covers it
        return body.decode("utf-8", errors="replace")
    return raw.decode("utf-8", errors="replace")


def _utf16(body: bytes) -> str:
    """UTF-16 with a byte-order mark if there is one, else the order its NUL bytes suggest.

    Mostly-Latin text has a NUL in every other byte: at even offsets in big-endian (what piexif,
    and so A1111, writes), at odd offsets in little-endian (what some other tools write).
    """
    if body.startswith(b"\xff\xfe"):
        return body[2:].decode("utf-16-le", errors="replace")
    if body.startswith(b"\xfe\xff"):
        return body[2:].decode("utf-16-be", errors="replace")
    sample = body[:2000]
    even = sample[0::2].count(0)
    odd = sample[1::2].count(0)
    return body.decode("utf-16-le" if odd > even else "utf-16-be", errors="replace")


def _check_riff_size(path: str | os.PathLike[str]) -> None:
    """A WebP's RIFF header says how long the file is; a shorter file was cut off."""
    try:
        with open(path, "rb") as handle:
            declared = int.from_bytes(handle.read(8)[4:8], "little") + 8
            size = handle.seek(0, os.SEEK_END)
    except OSError as exc:
        raise BadInput(str(path), f"cannot be read ({exc.strerror or exc})") from exc
    if size < declared:
        raise BadInput(
            str(path), f"is truncated (its RIFF header says {declared} bytes; the file has {size})"
        )


__all__ = ["decode_user_comment", "read_exif_texts", "sniff_format"]
