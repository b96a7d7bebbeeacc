"""Garbage and hostile files: a clear BadInput naming the file, fast, never a crash or a hang."""

from __future__ import annotations

import io
import json
import struct
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image, PngImagePlugin

from core.errors import BadInput
from core.formats.importer import import_image
from core.formats.parsed import MAX_ENTRY_CHARS
from core.formats.png import write_png


def _png(path: Path, chunks: dict[str, str]) -> Path:
    write_png(Image.new("RGB", (16, 16)), path, chunks)
    return path


def _standard_graph() -> dict[str, object]:
    return {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "m.safetensors"}},
        "2": {"class_type": "KSampler", "inputs": {"model": ["1", 0], "seed": 5, "steps": 4}},
    }


def _not_an_image(p: Path) -> Path:
    p.write_text("hello, I am a text file\n")
    return p


def _truncated_png(p: Path) -> Path:
    data = _png(p, {"parameters": "a\nSteps: 2, Seed: 1, CFG scale: 3"}).read_bytes()
    p.write_bytes(data[: len(data) // 2])
    return p


def _truncated_jpeg(p: Path) -> Path:
    buffer = io.BytesIO()
    image = Image.effect_noise((256, 256), 60).convert("RGB")
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9286] = b"UNICODE\0" + "a\nSteps: 2, Seed: 1, CFG scale: 3".encode(
        "utf-16-be"
    )
    image.save(buffer, format="JPEG", exif=exif)
    p.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) * 2 // 3])
    return p


def _truncated_webp(p: Path) -> Path:
    buffer = io.BytesIO()
    Image.effect_noise((64, 64), 60).convert("RGB").save(buffer, format="WEBP")
    p.write_bytes(buffer.getvalue()[:-40])
    return p


def _damaged_exif(suffix: str) -> Callable[[Path], Path]:
    """An EXIF block whose UserComment (or whole Exif IFD) points past the end of the data."""

    def make(p: Path) -> Path:
        ifd0 = struct.pack("<HHHII", 1, 0x8769, 4, 1, 26) + struct.pack("<I", 0)
        exif_ifd = struct.pack("<HHHII", 1, 0x9286, 7, 100_000, 9000) + struct.pack("<I", 0)
        tiff = b"II*\x00" + struct.pack("<I", 8) + ifd0 + exif_ifd
        path = p.with_suffix(suffix)
        Image.new("RGB", (8, 8)).save(path, exif=b"Exif\x00\x00" + tiff)
        return path

    return make


def _graph(graph: object) -> Callable[[Path], Path]:
    return lambda p: _png(p, {"prompt": graph if isinstance(graph, str) else json.dumps(graph)})


def _cycle() -> dict[str, object]:
    graph = _standard_graph()
    graph["1"] = {"class_type": "LoraLoader", "inputs": {"model": ["3", 0], "lora_name": "x"}}
    graph["3"] = {"class_type": "LoraLoader", "inputs": {"model": ["1", 0], "lora_name": "y"}}
    return graph


def _many_nodes() -> dict[str, object]:
    graph = _standard_graph()
    for i in range(10, 5010):
        graph[str(i)] = {"class_type": "Note", "inputs": {"text": ["9", 0]}}
    return graph


CASES: dict[str, tuple[Callable[[Path], Path], str]] = {
    "not an image": (_not_an_image, "is not a PNG, JPEG or WebP"),
    "missing file": (lambda p: p, "no such file"),
    "truncated png": (_truncated_png, "truncated"),
    "truncated jpeg": (_truncated_jpeg, "truncated"),
    "truncated webp": (_truncated_webp, "truncated"),
    "damaged exif jpeg": (_damaged_exif(".jpg"), "has damaged EXIF data"),
    "damaged exif webp": (_damaged_exif(".webp"), "has damaged EXIF data"),
    "prompt not json": (_graph("{not json"), "'prompt' chunk is not valid JSON"),
    "prompt a list": (_graph([1, 2, 3]), "expected an object"),
    "deep json": (_graph("[" * 200_000), "not valid JSON"),
    "cycle": (_graph(_cycle()), "cycle"),
    "thousands of nodes": (_graph(_many_nodes()), "5002 nodes"),
    "node is a list": (_graph({"1": ["KSampler"]}), "ComfyUI node '1' is a list"),
    "no sampler": (_graph({"1": {"class_type": "SaveImage", "inputs": {}}}), "no sampler node"),
    "dangling link": (
        _graph({"2": {"class_type": "KSampler", "inputs": {"model": ["77", 0]}}}),
        "node '77', which is missing",
    ),
    "comfy seed abc": (
        _graph({"2": {"class_type": "KSampler", "inputs": {"seed": "abc"}}}),
        "seed is 'abc'; expected an integer",
    ),
    "a1111 seed abc": (
        lambda p: _png(p, {"parameters": "x\nSteps: 20, Seed: abc, CFG scale: 7"}),
        "Seed is 'abc'; expected an integer",
    ),
    "invokeai seed abc": (
        lambda p: _png(p, {"invokeai_metadata": json.dumps({"seed": "abc"})}),
        "seed is 'abc'; expected an integer",
    ),
    "invokeai model a list": (
        lambda p: _png(p, {"invokeai_metadata": json.dumps({"model": ["x"]})}),
        "model is list; expected an object",
    ),
    "nan cfg": (
        lambda p: _png(p, {"parameters": "x\nSteps: 20, Seed: 1, CFG scale: nan"}),
        "CFG scale is nan",
    ),
    "5 MB parameters": (
        lambda p: _png(p, {"parameters": "a, " * 1_700_000}),
        "characters; expected at most",
    ),
    "atelier bad request": (
        lambda p: _png(
            p,
            {"atelier": json.dumps({"request": {"task": "text2img", "model": "m", "seed": "abc"}})},
        ),
        "seed: expected int",
    ),
    "atelier no request": (lambda p: _png(p, {"atelier": "{}"}), "no 'request' object"),
    "no metadata": (lambda p: _png(p, {"Software": "GIMP"}), "has no generation metadata"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_files_raise_bad_input_naming_the_file(tmp_path: Path, case: str) -> None:
    make, expected = CASES[case]
    path = make(tmp_path / "bad.png")
    start = time.perf_counter()
    with pytest.raises(BadInput) as info:
        import_image(path)
    assert time.perf_counter() - start < 1.0
    message = str(info.value)
    assert message.startswith(f"{path}: "), message
    assert expected in message, message


def test_hostile_but_valid_text_is_bounded(tmp_path: Path) -> None:
    """Long runs that make naive infotext regexes backtrack, and thousands of LoRA tags."""
    text = (
        " " * 400_000 + "x" * 400_000 + "<lora:a:1>" * 10_000 + "\nSteps: 2, Seed: 1, CFG scale: 3"
    )
    path = _png(tmp_path / "long.png", {"parameters": text})
    start = time.perf_counter()
    imported = import_image(path)
    assert time.perf_counter() - start < 1.0
    assert imported.request.steps == 2
    assert len(imported.unmapped) <= 201
    assert all(len(entry) <= MAX_ENTRY_CHARS for entry in imported.unmapped)


def test_long_lora_chain_is_followed_without_recursion(tmp_path: Path) -> None:
    graph = _standard_graph()
    previous = "1"
    for i in range(100, 1990):
        graph[str(i)] = {
            "class_type": "LoraLoader",
            "inputs": {"model": [previous, 0], "lora_name": f"l{i}"},
        }
        previous = str(i)
    graph["2"]["inputs"]["model"] = [previous, 0]  # type: ignore[index]
    start = time.perf_counter()
    imported = import_image(_png(tmp_path / "chain.png", {"prompt": json.dumps(graph)}))
    assert time.perf_counter() - start < 1.0
    assert imported.request.model == "m.safetensors"
    assert imported.unmapped[-1] == "... (more left out)"


def test_compressed_text_bomb_is_refused(tmp_path: Path) -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "a" * 30_000_000, zip=True)
    path = tmp_path / "bomb.png"
    Image.new("RGB", (8, 8)).save(path, pnginfo=info)
    with pytest.raises(BadInput, match=str(path)):
        import_image(path)


@pytest.mark.parametrize(
    "text",
    ['"' + "a" * 900_000, "x" * 900_000, '"x" ' + " -a" * 300_000, "prompt:" + " " * 900_000],
    ids=["open quote", "one long word", "endless dream options", "prefix and spaces"],
)
def test_long_texts_are_told_apart_fast(tmp_path: Path, text: str) -> None:
    path = _png(tmp_path / "long.png", {"parameters": text})
    start = time.perf_counter()
    try:
        imported = import_image(path)
    except BadInput as exc:
        assert str(exc).startswith(f"{path}: ")
    else:
        assert imported.format == "invokeai-dream" and len(imported.unmapped) <= 201
    assert time.perf_counter() - start < 1.0
