"""Formats are told by content, not by where they sit: JSON is matched to its format, a text
must look like an infotext, the richest of several formats is used, and an image Atelier cannot
run is imported for reference only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from core.errors import BadInput
from core.formats.importer import import_image
from core.formats.png import write_png

SWARM = {
    "sui_image_params": {
        "prompt": "a lighthouse at dusk",
        "negativeprompt": "fog",
        "model": "OfficialStableDiffusion/sd_xl_base_1.0",
        "seed": 1234,
        "steps": 30,
        "cfgscale": 6.5,
        "width": 1024,
        "height": 768,
        "sampler": "dpmpp_2m",
        "scheduler": "karras",
        "clipstopatlayer": -2,
        "automaticvae": True,
        "swarm_version": "0.9.5.2",
    },
    "sui_models": [{"name": "sd_xl_base_1.0.safetensors", "param": "model", "hash": "0x31e3"}],
}
NOVELAI_EXIF = {
    "Title": "NovelAI generated image",
    "Description": "a cat on the moon",
    "Software": "NovelAI",
    "Source": "Stable Diffusion XL C1E1DE52",
    "Comment": json.dumps(
        {
            "prompt": "a cat on the moon",
            "uc": "lowres",
            "steps": 28,
            "scale": 5.0,
            "seed": 7,
            "sampler": "k_euler",
            "width": 832,
            "height": 1216,
            "noise_schedule": "native",
        }
    ),
}


def _exif_image(path: Path, tags: dict[int, bytes | str], comment: bytes | None = None) -> Path:
    exif = Image.Exif()
    for tag, value in tags.items():
        exif[tag] = value
    if comment is not None:
        exif.get_ifd(0x8769)[0x9286] = comment
    Image.new("RGB", (8, 8)).save(path, exif=exif)
    return path


def _png(path: Path, chunks: dict[str, str]) -> Path:
    write_png(Image.new("RGB", (8, 8)), path, chunks)
    return path


def test_a_gimp_jpeg_comment_is_not_a_prompt(tmp_path: Path) -> None:
    path = tmp_path / "edited.jpg"
    Image.new("RGB", (8, 8)).save(path, comment=b"Created with GIMP")
    with pytest.raises(BadInput, match="JPEG comment match no known format"):
        import_image(path)


@pytest.mark.parametrize("where", ["png", "jpeg", "webp"])
def test_swarmui_json_is_read_as_swarmui_not_as_a_prompt(tmp_path: Path, where: str) -> None:
    text = json.dumps(SWARM)
    if where == "png":
        path = _png(tmp_path / "swarm.png", {"parameters": text})
    else:
        comment = b"UNICODE\0" + text.encode("utf-16-be")
        path = _exif_image(tmp_path / f"swarm.{where}", {}, comment)
    imported = import_image(path)
    request = imported.request
    assert imported.format == "swarmui"
    assert (request.prompt, request.negative_prompt) == ("a lighthouse at dusk", "fog")
    assert (request.seed, request.steps, request.cfg_scale) == (1234, 30, 6.5)
    assert (request.width, request.height, request.clip_skip) == (1024, 768, 1)
    assert request.scheduler == "dpmpp_2m_karras"
    assert request.model == "OfficialStableDiffusion/sd_xl_base_1.0"
    assert imported.field_sources["cfg_scale"] == "SwarmUI sui_image_params cfgscale"
    assert "automaticvae: true" in imported.unmapped


def test_novelai_json_in_webp_exif(tmp_path: Path) -> None:
    comment = b"UNICODE\0" + json.dumps(NOVELAI_EXIF).encode("utf-16-be")
    imported = import_image(_exif_image(tmp_path / "nai.webp", {}, comment))
    request = imported.request
    assert imported.format == "novelai"
    assert (request.prompt, request.negative_prompt) == ("a cat on the moon", "lowres")
    assert (request.seed, request.steps, request.cfg_scale) == (7, 28, 5.0)
    assert (request.width, request.height, request.scheduler) == (832, 1216, "euler")


def test_unknown_json_is_refused_not_read_as_a_prompt(tmp_path: Path) -> None:
    path = _png(tmp_path / "space.png", {"parameters": json.dumps({"app": "x", "cfg": 3})})
    with pytest.raises(BadInput, match="'parameters' match no known format"):
        import_image(path)


def test_comfyui_graph_in_webp_exif_make_and_model(tmp_path: Path) -> None:
    graph = {
        "3": {"class_type": "KSampler", "inputs": {
            "seed": 5, "steps": 20, "cfg": 7.0, "sampler_name": "euler", "scheduler": "normal",
            "denoise": 1.0, "model": ["4", 0], "positive": ["6", 0], "negative": ["7", 0],
            "latent_image": ["5", 0]}},
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "v1-5.safetensors"}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 640,
                                                           "batch_size": 1}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a fox", "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "blur", "clip": ["4", 1]}},
    }  # fmt: skip
    tags = {0x0110: "prompt:" + json.dumps(graph), 0x010F: 'workflow:{"nodes": [], "links": []}'}
    imported = import_image(_exif_image(tmp_path / "comfy.webp", tags))
    assert imported.format == "comfyui"
    assert imported.formats_found == ["comfyui", "comfyui-workflow"]
    assert (imported.request.prompt, imported.request.width) == ("a fox", 512)
    assert imported.field_sources["prompt"] == "ComfyUI node 6 (CLIPTextEncode) text"


def test_the_richest_of_several_formats_is_used_and_named(tmp_path: Path) -> None:
    infotext = "other prompt\nSteps: 5, Seed: 1, CFG scale: 2"
    path = _png(tmp_path / "both.png", {"parameters": infotext, "sd-metadata": json.dumps({
        "model_weights": "deliberate", "app_id": "invoke-ai/InvokeAI", "app_version": "2.3.0",
        "image": {"prompt": "a red barn [fog, rain]", "steps": 30, "cfg_scale": 7.5,
                  "seed": 42, "width": 512, "height": 512, "sampler": "k_euler_a",
                  "type": "txt2img"}})})  # fmt: skip
    imported = import_image(path)
    assert imported.format == "invokeai-2"
    assert imported.formats_found == ["invokeai-2", "a1111"]
    assert (imported.request.prompt, imported.request.negative_prompt) == (
        "a red barn",
        "fog, rain",
    )
    assert imported.request.scheduler == "euler_a" and imported.request.model == "deliberate"
    assert any("also holds a1111" in note for note in imported.notes)


def test_flux_infotext_is_imported_for_reference_only(tmp_path: Path) -> None:
    infotext = "a fox\nSteps: 20, Seed: 1, CFG scale: 1, Model: flux1-dev-bnb-nf4-v2"
    imported = import_image(_png(tmp_path / "flux.png", {"parameters": infotext}))
    assert not imported.runnable
    assert imported.not_runnable_reason == (
        "imported for reference, cannot be run: it was made with Flux, which Atelier cannot run"
    )
    assert imported.to_dict()["runnable"] is False


def test_a_prompt_behind_an_unknown_node_makes_the_import_reference_only(tmp_path: Path) -> None:
    graph = {
        "3": {"class_type": "KSampler", "inputs": {
            "seed": 5, "steps": 20, "cfg": 7.0, "sampler_name": "euler", "scheduler": "normal",
            "model": ["4", 0], "positive": ["6", 0], "latent_image": ["5", 0]}},
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "v1-5.safetensors"}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 512}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": ["8", 0], "clip": ["4", 1]}},
        "8": {"class_type": "StringConcatenate", "inputs": {"a": ["9", 0], "b": ["9", 0]}},
        "9": {"class_type": "Wildcards", "inputs": {"seed": ["3", 0]}},
    }  # fmt: skip
    graph["9"]["inputs"] = {"pattern": "__animals__"}
    imported = import_image(_png(tmp_path / "lost.png", {"prompt": json.dumps(graph)}))
    assert imported.request.prompt == ""
    assert not imported.runnable
    assert "its prompt could not be read" in imported.not_runnable_reason


def test_a_comfyui_graph_with_civitai_extras_in_a_jpeg_user_comment(tmp_path: Path) -> None:
    graph = {
        "3": {"class_type": "KSampler", "inputs": {
            "seed": 9, "steps": 25, "cfg": 6.0, "sampler_name": "euler_ancestral",
            "scheduler": "normal", "denoise": 1.0, "model": ["4", 0], "positive": ["6", 0],
            "negative": ["7", 0], "latent_image": ["5", 0]}},
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "dreamshaper_8"}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 768,
                                                           "batch_size": 1}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a koi pond", "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["4", 1]}},
        "extra": {"airs": ["urn:air:sd1:checkpoint:civitai:4384@128713"]},
        "extraMetadata": json.dumps({"prompt": "a koi pond", "steps": 25}),
    }  # fmt: skip
    comment = b"UNICODE\0" + json.dumps(graph).encode("utf-16-be")
    imported = import_image(_exif_image(tmp_path / "civitai.jpg", {}, comment))
    request = imported.request
    assert imported.format == "comfyui"
    assert (request.prompt, request.negative_prompt, request.seed) == ("a koi pond", "blurry", 9)
    assert (request.width, request.height, request.scheduler) == (512, 768, "euler_a")
    assert request.strength == 0.75 and "strength" not in imported.field_sources
    assert any(u.startswith("extraMetadata: ") for u in imported.unmapped)


def test_an_infotext_whose_prompt_starts_with_a_brace_is_still_an_infotext(tmp_path: Path) -> None:
    infotext = "{red|blue} fox, forest\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 3"
    imported = import_image(_png(tmp_path / "wildcard.png", {"parameters": infotext}))
    assert imported.format == "a1111"
    assert imported.request.prompt == "{red|blue} fox, forest"


def test_swarmui_params_beat_a_poorer_comfyui_graph_in_the_same_file(tmp_path: Path) -> None:
    graph = {
        "1": {"class_type": "SwarmKSampler", "inputs": {
            "noise_seed": 1234, "steps": 30, "positive": ["2", 0], "latent_image": ["3", 0]}},
        "2": {"class_type": "SwarmClipTextEncodeAdvanced", "inputs": {"clip": ["4", 1]}},
        "3": {"class_type": "SwarmLatent", "inputs": {"pixels": ["5", 0]}},
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sdxl.safetensors"}},
        "5": {"class_type": "LoadImage", "inputs": {"image": "in.png"}},
    }  # fmt: skip
    path = _png(
        tmp_path / "swarm.png", {"parameters": json.dumps(SWARM), "prompt": json.dumps(graph)}
    )
    imported = import_image(path)
    assert imported.formats_found == ["comfyui", "swarmui"]
    assert imported.format == "swarmui"
    assert imported.request.prompt == "a lighthouse at dusk"
    assert any("also holds comfyui" in note for note in imported.notes)
    assert not any("could not be read" in note for note in imported.notes)
