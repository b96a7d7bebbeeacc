"""Importing InvokeAI's `invokeai_metadata` chunk (the fields of its core_metadata node)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PIL import Image

from core.formats.importer import import_image
from core.formats.png import write_png


def metadata() -> dict[str, Any]:
    """What InvokeAI 4.x writes for a text-to-image generation with one LoRA."""
    return {
        "app_version": "4.2.9",
        "generation_mode": "txt2img",
        "positive_prompt": "a cozy cabin in the woods, snow",
        "negative_prompt": "blurry",
        "width": 768,
        "height": 512,
        "seed": 3123456789,
        "rand_device": "cpu",
        "cfg_scale": 6.5,
        "cfg_rescale_multiplier": 0,
        "steps": 30,
        "scheduler": "dpmpp_2m_k",
        "seamless_x": False,
        "seamless_y": False,
        "clip_skip": 0,
        "model": {
            "key": "6f1c3e0b-6e8e-4ad0-9c9a-0d7a6f5f2a11",
            "hash": "blake3:9a4c2b7e0f",
            "name": "Juggernaut XL v9",
            "base": "sdxl",
            "type": "main",
        },
        "loras": [
            {
                "model": {
                    "key": "k1",
                    "hash": "blake3:01",
                    "name": "detail-tweaker",
                    "base": "sdxl",
                    "type": "lora",
                },
                "weight": 0.75,
            }
        ],
        "controlnets": [],
        "ipAdapters": [],
        "t2iAdapters": [],
        "hrf_enabled": False,
        "hrf_method": "ESRGAN",
        "hrf_strength": 0.45,
    }


def write_metadata(path: Path, data: dict[str, Any] | str, **more: str) -> Path:
    text = data if isinstance(data, str) else json.dumps(data)
    write_png(Image.new("RGB", (16, 16)), path, {"invokeai_metadata": text, **more})
    return path


def test_invokeai_metadata_becomes_the_request(tmp_path: Path) -> None:
    imported = import_image(write_metadata(tmp_path / "invoke.png", metadata()))
    request = imported.request
    assert imported.format == "invokeai"
    assert request.prompt == "a cozy cabin in the woods, snow"
    assert request.negative_prompt == "blurry"
    assert (request.width, request.height, request.seed) == (768, 512, 3123456789)
    assert (request.steps, request.cfg_scale) == (30, 6.5)
    assert request.scheduler == "dpmpp_2m_karras"
    assert request.clip_skip is None
    assert request.model == "Juggernaut XL v9"
    assert request.task == "text2img"
    assert any("detail-tweaker" in u and "0.75" in u for u in imported.unmapped)
    assert "rand_device: cpu" in imported.unmapped
    # defaults and a disabled hires fix are not noise in the list
    assert not any(u.startswith(("hrf_", "seamless", "controlnets")) for u in imported.unmapped)
    assert any("4.2.9" in n for n in imported.notes)


def test_invokeai_3_model_form_img2img_and_unknown_scheduler(tmp_path: Path) -> None:
    data = metadata()
    data.update(
        generation_mode="img2img",
        strength=0.6,
        init_image="a1b2.png",
        scheduler="dpmpp_3m_k",
        clip_skip=2,
        model={"model_name": "amixx_3Prunedfp16", "base_model": "sd-1", "model_type": "main"},
        loras=[{"lora": {"model_name": "film", "base_model": "sd-1"}, "weight": 0.5}],
    )
    imported = import_image(write_metadata(tmp_path / "i2i.png", data))
    request = imported.request
    assert request.model == "amixx_3Prunedfp16"
    assert (request.task, request.strength, request.clip_skip) == ("text2img", 0.6, 2)
    assert request.scheduler is None
    assert "scheduler: dpmpp_3m_k (no equivalent scheduler)" in imported.unmapped
    assert "init_image: a1b2.png" in imported.unmapped
    assert any("'film'" in u for u in imported.unmapped)
    assert any("made as img2img" in n for n in imported.notes)


def test_invokeai_wins_over_parameters(tmp_path: Path) -> None:
    path = write_metadata(
        tmp_path / "both.png", metadata(), parameters="x\nSteps: 3, Seed: 1, CFG scale: 2"
    )
    assert import_image(path).format == "invokeai"


def test_invokeai_sdxl_refiner_becomes_the_refiner_handoff(tmp_path: Path) -> None:
    meta = {
        "positive_prompt": "a barn", "seed": 3, "steps": 30, "generation_mode": "sdxl_txt2img",
        "model": {"name": "sdxl-base", "base": "sdxl"},
        "refiner_model": {"name": "sdxl-refiner", "base": "sdxl-refiner"},
        "refiner_start": 0.7, "refiner_steps": 20,
    }  # fmt: skip
    path = tmp_path / "refined.png"
    write_png(Image.new("RGB", (8, 8)), path, {"invokeai_metadata": json.dumps(meta)})
    imported = import_image(path)
    assert (imported.request.refiner, imported.request.high_noise_frac) == ("sdxl-refiner", 0.7)
    assert "refiner_steps: 20" in imported.unmapped
    assert not any(u.startswith(("refiner_model", "refiner_start")) for u in imported.unmapped)
