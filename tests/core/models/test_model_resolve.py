"""Resolving a source: kind, fingerprint and defaults, for demo, folder and single-file models."""

from __future__ import annotations

import shutil
from pathlib import Path

from ldm_checkpoint import write_checkpoint

from core.models.fingerprint import MemoryFingerprintCache, fingerprint_model
from core.models.resolve import model_defaults, resolve_source
from core.models.sources import parse_source


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
