"""Importing our own PNGs, and matching the model of any import against the library."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from core.formats.a1111 import to_infotext
from core.formats.importer import import_image
from core.formats.png import encode_record, write_png
from core.library import Library
from core.request import EmbeddingRef, GenerationRequest, LoraRef

FINGERPRINT = "6ce0161689" + "b" * 54


def full_request() -> GenerationRequest:
    return GenerationRequest(
        task="text2img",
        model="tiny-sd",
        prompt='café au lait, "quoted", 日本の庭\nsecond line',
        negative_prompt="blurry, ぼやけ",
        seed=424242,
        steps=18,
        cfg_scale=6.5,
        width=512,
        height=640,
        scheduler="dpmpp_2m_karras",
        loras=(LoraRef(path="/loras/detail.safetensors", weight=0.6),),
        embeddings=(EmbeddingRef(path="/emb/style.pt", token="<style>"),),
        clip_skip=1,
        batch_count=2,
        device="cpu",
        dtype="float32",
        threads=4,
        vae_tiling=True,
    )


def write_ours(path: Path, request: GenerationRequest, *, atelier: bool = True) -> Path:
    record = {"format": "atelier-record", "request": request.to_dict(), "image": {"seed": 424242}}
    chunks = {"parameters": to_infotext(request, 424242, "tiny-sd", FINGERPRINT)}
    if atelier:
        chunks = {"atelier": encode_record(record), **chunks}
    write_png(Image.new("RGB", (16, 16)), path, chunks)
    return path


@pytest.fixture
def library(tmp_path: Path) -> Iterator[Library]:
    lib = Library.open(tmp_path / "home")
    yield lib
    lib.close()


def test_own_png_gives_the_recorded_request_exactly(tmp_path: Path) -> None:
    request = full_request()
    imported = import_image(write_ours(tmp_path / "ours.png", request))
    assert imported.format == "atelier"
    assert imported.request == request
    assert imported.request.hash() == request.hash()
    assert imported.unmapped == []


def test_own_parameters_chunk_alone_gives_the_settings_back(tmp_path: Path) -> None:
    request = full_request()
    imported = import_image(write_ours(tmp_path / "params.png", request, atelier=False))
    got = imported.request
    assert imported.format == "a1111"
    for name in ("prompt", "negative_prompt", "seed", "steps", "cfg_scale", "width", "height",
                 "scheduler", "clip_skip"):  # fmt: skip
        assert getattr(got, name) == getattr(request, name), name
    assert got.model == "tiny-sd"


def test_model_hash_matches_a_library_variant(tmp_path: Path, library: Library) -> None:
    library.models.add(
        "my-sd15", "single_file", "/models/whatever.safetensors", "sd15", fingerprint=FINGERPRINT
    )
    imported = import_image(write_ours(tmp_path / "p.png", full_request(), atelier=False), library)
    assert imported.request.model == "my-sd15"
    assert any("my-sd15" in n and "6ce0161689" in n for n in imported.notes)


def test_unknown_hash_keeps_the_written_name(tmp_path: Path, library: Library) -> None:
    library.models.add("other", "single_file", "/m/other.safetensors", "sd15", fingerprint="f" * 64)
    imported = import_image(write_ours(tmp_path / "p.png", full_request(), atelier=False), library)
    assert imported.request.model == "tiny-sd"
    assert any("model not in library" in n for n in imported.notes)


def test_comfyui_checkpoint_file_and_invokeai_sha256_match(
    tmp_path: Path, library: Library
) -> None:
    library.models.add("dreamy", "single_file", "/models/dreamy_v2.safetensors", "sd15")
    library.models.add("juggernaut", "folder", "/models/jugg", "sdxl", fingerprint="c" * 64)
    graph = {
        "1": {
            "class_type": "CheckpointLoaderSimple",
            "inputs": {"ckpt_name": "sd15/dreamy_v2.safetensors"},
        },
        "2": {"class_type": "KSampler", "inputs": {"model": ["1", 0], "seed": 1, "steps": 4}},
    }
    path = tmp_path / "c.png"
    write_png(Image.new("RGB", (8, 8)), path, {"prompt": json.dumps(graph)})
    assert import_image(path, library).request.model == "dreamy"
    meta = {"positive_prompt": "x", "model": {"name": "Juggernaut", "hash": "sha256:" + "c" * 64}}
    write_png(Image.new("RGB", (8, 8)), path, {"invokeai_metadata": json.dumps(meta)})
    assert import_image(path, library).request.model == "juggernaut"
