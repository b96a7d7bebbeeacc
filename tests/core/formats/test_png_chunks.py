"""PNG files with our chunks: atomic writes, UTF-8 text, damaged files named in the error."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from PIL import Image

from core.errors import BadInput
from core.formats.a1111 import read_infotext, to_infotext
from core.formats.png import (
    ATELIER_CHUNK,
    PARAMETERS_CHUNK,
    encode_record,
    read_atelier_record,
    read_png_text,
    write_png,
)
from core.records import pixel_sha256
from core.request import GenerationRequest

PROMPT = 'café au lait, 日本の庭, "quoted", line one\nline two'


def _image() -> Image.Image:
    image = Image.new("RGB", (40, 24))
    image.putdata([(x * 6, y * 10, 128) for y in range(24) for x in range(40)])
    return image


def _write(tmp_path: Path, name: str = "out.png") -> tuple[Path, dict[str, str]]:
    request = GenerationRequest(
        task="text2img",
        model="demo",
        prompt=PROMPT,
        negative_prompt="blurry, ぼやけ",
        seed=7,
        steps=4,
        cfg_scale=6.5,
        width=40,
        height=24,
        scheduler="euler_a",
    )
    record = {"request": request.to_dict(), "seed": 7, "note": "é 日本"}
    chunks = {
        ATELIER_CHUNK: encode_record(record),
        PARAMETERS_CHUNK: to_infotext(request, 7, "demo", "ab" * 32),
    }
    path = tmp_path / name
    write_png(_image(), path, chunks)
    return path, chunks


def test_round_trip_keeps_chunks_pixels_and_utf8(tmp_path: Path) -> None:
    path, chunks = _write(tmp_path)
    assert read_png_text(path) == chunks
    record = read_atelier_record(path)
    assert record is not None
    assert record["request"]["prompt"] == PROMPT and record["note"] == "é 日本"
    with Image.open(path) as image:
        assert pixel_sha256(image) == pixel_sha256(_image())
    parsed = read_infotext(path)
    assert parsed is not None and parsed["Prompt"] == PROMPT
    assert parsed["Negative prompt"] == "blurry, ぼやけ"


def test_write_leaves_no_temporary_file_and_replaces(tmp_path: Path) -> None:
    path, _ = _write(tmp_path)
    write_png(Image.new("RGB", (8, 8), "red"), path, {"k": "v"})
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]
    assert read_png_text(path) == {"k": "v"}


def test_failed_write_keeps_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    path, chunks = _write(tmp_path)
    with pytest.raises(BadInput):
        write_png(_image(), path, {"bad\0key": "x"})
    with pytest.raises((OSError, ValueError)):
        write_png(Image.new("RGB", (0, 0)), path, {"k": "v"})  # Pillow refuses empty images
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]
    assert read_png_text(path) == chunks


def test_encode_record_is_canonical() -> None:
    assert encode_record({"b": 1, "a": "é"}) == '{"a":"é","b":1}'


def test_plain_png_has_no_record(tmp_path: Path) -> None:
    path = tmp_path / "plain.png"
    _image().save(path)
    assert read_png_text(path) == {}
    assert read_atelier_record(path) is None
    assert read_infotext(path) is None


def test_record_that_is_not_a_json_object_is_refused(tmp_path: Path) -> None:
    for text in ("{not json", "[1, 2]"):
        path = tmp_path / "bad-record.png"
        write_png(_image(), path, {ATELIER_CHUNK: text})
        with pytest.raises(BadInput, match=r"bad-record\.png"):
            read_atelier_record(path)


def test_text_file_named_png_is_bad_input(tmp_path: Path) -> None:
    path = tmp_path / "notes.png"
    path.write_text("hello, I am not an image\n")
    with pytest.raises(BadInput, match=r"notes\.png.*not a PNG"):
        read_png_text(path)


def test_truncated_png_is_bad_input(tmp_path: Path) -> None:
    path, _ = _write(tmp_path, "whole.png")
    data = path.read_bytes()
    for cut in (len(data) // 2, len(data) - 5, 20):
        broken = tmp_path / f"cut-{cut}.png"
        broken.write_bytes(data[:cut])
        with pytest.raises(BadInput, match=rf"cut-{cut}\.png.*(truncated|damaged)"):
            read_png_text(broken)


def test_broken_chunk_checksum_is_bad_input(tmp_path: Path) -> None:
    path, _ = _write(tmp_path, "whole.png")
    data = bytearray(path.read_bytes())
    at = data.index(b"iTXt") + 10  # inside the first text chunk: its CRC no longer matches
    data[at] ^= 0xFF
    broken = tmp_path / "crc.png"
    broken.write_bytes(bytes(data))
    with pytest.raises(BadInput, match=r"crc\.png.*damaged"):
        read_png_text(broken)


def test_missing_file_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match=r"nowhere\.png"):
        read_png_text(tmp_path / "nowhere.png")


def test_hostile_parameters_chunk_is_fast(tmp_path: Path) -> None:
    path = tmp_path / "hostile.png"
    write_png(_image(), path, {PARAMETERS_CHUNK: " " * 100_000 + "a" * 100_000 + ":"})
    start = time.perf_counter()
    parsed = read_infotext(path)
    assert time.perf_counter() - start < 1.0
    assert parsed is not None and parsed["Prompt"].endswith("a:")


def test_oversized_parameters_chunk_is_bad_input(tmp_path: Path) -> None:
    path = tmp_path / "huge.png"
    write_png(_image(), path, {PARAMETERS_CHUNK: "x, " * 400_000})
    start = time.perf_counter()
    with pytest.raises(BadInput, match=r"huge\.png.*at most"):
        read_infotext(path)
    assert time.perf_counter() - start < 2.0
