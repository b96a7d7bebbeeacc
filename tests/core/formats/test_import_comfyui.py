"""Importing ComfyUI's `prompt` graph (API format) of the standard text-to-image nodes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from core.formats.comfyui import from_comfyui_sampler
from core.formats.importer import import_image
from core.formats.png import write_png


def graph() -> dict[str, Any]:
    """ComfyUI's default workflow with a LoRA and clip skip, as its SaveImage node writes it.

    The negative prompt's node comes first on purpose: the KSampler's links decide which is which.
    """
    return {
        "3": {
            "class_type": "KSampler",
            "inputs": {
                "seed": 156680208700286,
                "steps": 25,
                "cfg": 7.5,
                "sampler_name": "dpmpp_2m",
                "scheduler": "karras",
                "denoise": 1.0,
                "model": ["10", 0],
                "positive": ["7", 0],
                "negative": ["6", 0],
                "latent_image": ["5", 0],
            },
        },
        "4": {
            "class_type": "CheckpointLoaderSimple",
            "inputs": {"ckpt_name": "v1-5-pruned-emaonly.safetensors"},
        },
        "5": {
            "class_type": "EmptyLatentImage",
            "inputs": {"width": 640, "height": 448, "batch_size": 2},
        },
        "6": {
            "class_type": "CLIPTextEncode",
            "inputs": {"text": "text, watermark", "clip": ["11", 0]},
        },
        "7": {
            "class_type": "CLIPTextEncode",
            "inputs": {"text": "beautiful scenery, 山\nglass bottle", "clip": ["11", 0]},
        },
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {
            "class_type": "SaveImage",
            "inputs": {"filename_prefix": "ComfyUI", "images": ["8", 0]},
        },
        "10": {
            "class_type": "LoraLoader",
            "inputs": {
                "lora_name": "add_detail.safetensors",
                "strength_model": 0.8,
                "strength_clip": 0.6,
                "model": ["4", 0],
                "clip": ["4", 1],
            },
        },
        "11": {
            "class_type": "CLIPSetLastLayer",
            "inputs": {"stop_at_clip_layer": -2, "clip": ["10", 1]},
        },
    }


def write_graph(path: Path, prompt: dict[str, Any] | str) -> Path:
    text = prompt if isinstance(prompt, str) else json.dumps(prompt)
    write_png(Image.new("RGB", (16, 16)), path, {"prompt": text})
    return path


def test_standard_graph_becomes_the_request(tmp_path: Path) -> None:
    imported = import_image(write_graph(tmp_path / "comfy.png", graph()))
    request = imported.request
    assert imported.format == "comfyui"
    assert request.prompt == "beautiful scenery, 山\nglass bottle"
    assert request.negative_prompt == "text, watermark"
    assert (request.seed, request.steps, request.cfg_scale) == (156680208700286, 25, 7.5)
    assert request.scheduler == "dpmpp_2m_karras"
    assert (request.width, request.height, request.batch_size) == (640, 448, 2)
    assert request.clip_skip == 1
    assert request.model == "v1-5-pruned-emaonly.safetensors"
    assert request.task == "text2img"
    assert request.loras == ()
    lora = [u for u in imported.unmapped if u.startswith("LoraLoader")]
    assert len(lora) == 1 and "add_detail.safetensors" in lora[0] and "0.8" in lora[0]
    assert len(imported.unmapped) == 1


def test_custom_node_and_second_pass_are_unmapped(tmp_path: Path) -> None:
    prompt = graph()
    prompt["12"] = {
        "class_type": "UltimateSDUpscale",
        "inputs": {"image": ["8", 0], "upscale_by": 2},
    }
    second = dict(prompt["3"], inputs=dict(prompt["3"]["inputs"], latent_image=["3", 0]))
    prompt["13"] = second
    imported = import_image(write_graph(tmp_path / "custom.png", prompt))
    assert imported.request.seed == 156680208700286
    assert "UltimateSDUpscale (node 12): upscale_by: 2" in imported.unmapped
    assert any("later sampling pass" in u and "KSampler (node 13)" in u for u in imported.unmapped)


def test_workflow_chunk_is_not_needed_and_prompt_wins_over_parameters(tmp_path: Path) -> None:
    path = tmp_path / "both.png"
    chunks = {"prompt": json.dumps(graph()), "parameters": "other\nSteps: 3, Seed: 1, CFG scale: 2"}
    write_png(Image.new("RGB", (16, 16)), path, chunks)
    imported = import_image(path)
    assert imported.format == "comfyui"
    assert imported.request.steps == 25


def test_img2img_graph_keeps_text2img_with_a_note(tmp_path: Path) -> None:
    prompt = graph()
    prompt["5"] = {"class_type": "VAEEncode", "inputs": {"pixels": ["14", 0], "vae": ["4", 2]}}
    prompt["14"] = {"class_type": "LoadImage", "inputs": {"image": "photo.png"}}
    prompt["3"]["inputs"]["denoise"] = 0.55
    imported = import_image(write_graph(tmp_path / "i2i.png", prompt))
    assert imported.request.task == "text2img"
    assert imported.request.strength == 0.55
    assert any("init image is not in the file" in n for n in imported.notes)
    assert any(u.startswith("LoadImage (node 14)") for u in imported.unmapped)


@pytest.mark.parametrize(
    ("sampler", "schedule", "ours"),
    [
        ("euler", "normal", "euler"),
        ("euler_ancestral", "normal", "euler_a"),
        ("dpmpp_2m", "normal", "dpmpp_2m"),
        ("dpmpp_2m", "karras", "dpmpp_2m_karras"),
        ("ddim", "ddim_uniform", "ddim"),
        ("uni_pc", "normal", "unipc"),
        ("lcm", "sgm_uniform", "lcm"),
        ("heun", "normal", "heun"),
        ("dpm_2", "normal", "dpm2"),
        ("dpm_2_ancestral", "normal", "dpm2_a"),
        ("euler", "karras", None),
        ("dpmpp_3m_sde", "exponential", None),
    ],
)
def test_sampler_names(sampler: str, schedule: str, ours: str | None) -> None:
    assert from_comfyui_sampler(sampler, schedule) == ours


def test_unknown_sampler_is_unmapped(tmp_path: Path) -> None:
    prompt = graph()
    prompt["3"]["inputs"]["sampler_name"] = "dpmpp_3m_sde_gpu"
    imported = import_image(write_graph(tmp_path / "s.png", prompt))
    assert imported.request.scheduler is None
    assert any("dpmpp_3m_sde_gpu" in u for u in imported.unmapped)


def test_values_linked_from_seed_and_text_nodes_are_followed(tmp_path: Path) -> None:
    prompt = graph()
    prompt["20"] = {"class_type": "Seed (rgthree)", "inputs": {"seed": 77}}
    prompt["21"] = {"class_type": "String Literal", "inputs": {"string": "a lake"}}
    prompt["3"]["inputs"]["seed"] = ["20", 0]
    prompt["7"]["inputs"]["text"] = ["21", 0]
    imported = import_image(write_graph(tmp_path / "linked.png", prompt))
    assert imported.request.seed == 77
    assert imported.request.prompt == "a lake"
    assert imported.request.negative_prompt == "text, watermark"
    assert imported.field_sources["seed"] == "ComfyUI node 20 (Seed (rgthree)) seed"
    assert imported.field_sources["prompt"] == "ComfyUI node 21 (String Literal) string"


def test_a_value_computed_by_a_node_is_unmapped_not_fatal(tmp_path: Path) -> None:
    prompt = graph()
    prompt["20"] = {"class_type": "Add", "inputs": {"a": ["22", 0], "b": ["23", 0]}}
    prompt["22"] = {"class_type": "Int", "inputs": {"value": 1}}
    prompt["23"] = {"class_type": "Int", "inputs": {"value": 2}}
    prompt["3"]["inputs"]["seed"] = ["20", 0]
    imported = import_image(write_graph(tmp_path / "computed.png", prompt))
    assert imported.request.seed is None
    assert any("seed: computed by node 20 (Add)" in u for u in imported.unmapped)


def test_a_seed_linked_from_a_text_node_is_not_taken_for_a_seed(tmp_path: Path) -> None:
    prompt = graph()
    prompt["20"] = {"class_type": "Note Text", "inputs": {"text": "seed 5 looked nice"}}
    prompt["3"]["inputs"]["seed"] = ["20", 0]
    imported = import_image(write_graph(tmp_path / "odd.png", prompt))
    assert imported.request.seed is None
    assert imported.request.steps is not None
    assert any("seed: computed by node 20 (Note Text)" in u for u in imported.unmapped)
