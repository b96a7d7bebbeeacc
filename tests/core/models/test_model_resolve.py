"""Resolving a source: kind, fingerprint and defaults, for demo, folder and single-file models."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from ldm_checkpoint import write_checkpoint

from core.generation import Generator
from core.models.fingerprint import MemoryFingerprintCache, fingerprint_model
from core.models.resolve import ResolvedModels, model_defaults, resolve_source
from core.models.sources import parse_source
from core.request import GenerationRequest


def test_demo_model_resolves_with_its_own_defaults(sd_folder: Path) -> None:
    cache = MemoryFingerprintCache()
    resolved = resolve_source(parse_source("demo:sd"), "tiny", cache)
    assert (resolved.name, resolved.kind, resolved.path) == ("tiny", "sd2", sd_folder)
    assert resolved.config_path is None
    assert resolved.fingerprint == fingerprint_model(sd_folder).sha256
    assert set(resolved.components) == {"unet", "vae", "text_encoder"}
    assert resolved.defaults["width"] == resolved.defaults["height"] == 64
    assert resolved.defaults["scheduler"] == "ddim"  # from atelier.json
    assert cache.entries


def test_defaults_from_the_configs_without_atelier_json(sd_folder: Path, tmp_path: Path) -> None:
    folder = Path(
        shutil.copytree(
            sd_folder, tmp_path / "plain", ignore=shutil.ignore_patterns("atelier.json")
        )
    )
    resolved = resolve_source(parse_source(str(folder)), "plain", None)
    assert resolved.source.type == "folder"
    # UNet sample_size 8 x VAE scale factor 2**(4 - 1) = 64
    assert resolved.defaults == {
        "width": 64,
        "height": 64,
        "steps": 30,
        "cfg_scale": 7.5,
        "scheduler": None,
    }


def test_upscaler_has_no_default_size(tmp_path: Path) -> None:
    defaults = model_defaults(tmp_path, "upscale-x4")
    assert defaults["width"] is None and defaults["height"] is None
    assert model_defaults(tmp_path, "sdxl")["width"] == 1024


def test_single_file_resolves_through_its_config(sd_folder: Path, tmp_path: Path) -> None:
    checkpoint = write_checkpoint(sd_folder, tmp_path / "tiny.safetensors")
    source = parse_source(str(checkpoint), config=str(sd_folder))
    resolved = resolve_source(source, "tiny-file", None)
    assert resolved.kind == "sd2"
    assert resolved.path == checkpoint.resolve()
    assert resolved.config_path == sd_folder.resolve()
    assert resolved.fingerprint == fingerprint_model(checkpoint).sha256
    assert resolved.size_bytes == checkpoint.stat().st_size
    assert resolved.defaults["width"] == 64


def _set_default_steps(folder: Path, steps: int) -> None:
    marker = folder / "atelier.json"
    data = json.loads(marker.read_text())
    data["defaults"]["steps"] = steps
    marker.write_text(json.dumps(data))


def test_a_kept_model_is_reused_until_its_files_change(sd_copy: Path) -> None:
    models = ResolvedModels(MemoryFingerprintCache())
    source = parse_source(str(sd_copy))
    first = models.resolve(source, "mine")
    assert models.resolve(source, "mine") is first  # nothing changed: no second walk

    _set_default_steps(sd_copy, 7)
    edited = models.resolve(source, "mine")
    assert edited.defaults["steps"] == 7
    assert edited.fingerprint == first.fingerprint

    weights = next((sd_copy / "unet").glob("*.safetensors"))
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF  # the same size, other bytes: a weight file rewritten in place
    weights.write_bytes(bytes(data))
    rewritten = models.resolve(source, "mine")
    assert rewritten.fingerprint != first.fingerprint
    assert rewritten.components["unet"] != first.components["unet"]

    shutil.copy(weights, sd_copy / "unet" / "extra.safetensors")
    assert models.resolve(source, "mine").fingerprint != rewritten.fingerprint


def test_the_next_job_uses_a_models_edited_defaults(generator: Generator, sd_copy: Path) -> None:
    request = GenerationRequest(task="text2img", model=str(sd_copy), prompt="a red circle")
    before = generator.prepare(request)
    _set_default_steps(sd_copy, 3)
    after = generator.prepare(request)
    assert (before.request.steps, after.request.steps) == (20, 3)
    assert after.model.fingerprint == before.model.fingerprint
