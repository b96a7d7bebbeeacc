"""From a model source to everything the library and the engine need to know about the model."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.models.fingerprint import FingerprintCache, fingerprint_model
from core.models.kinds import detect_kind, read_json
from core.models.sources import ModelSource, local_path

DEFAULT_STEPS = 30
DEFAULT_CFG_SCALE = 7.5
# The trained size of each kind, for a single file whose configs are not at hand.
_KIND_SIZES = {
    "sd1": 512,
    "sd2": 768,
    "inpaint": 512,
    "depth": 512,
    "sdxl": 1024,
    "sdxl-refiner": 1024,
}


@dataclass(frozen=True)
class ResolvedModel:
    name: str
    source: ModelSource
    kind: str
    path: Path
    config_path: Path | None
    fingerprint: str
    components: dict[str, str] = field(default_factory=dict)
    size_bytes: int = 0
    defaults: dict[str, Any] = field(default_factory=dict)


def resolve_source(
    source: ModelSource, name: str, cache: FingerprintCache | None = None
) -> ResolvedModel:
    """Find the model's files, tell its kind, fingerprint its weights, and read its defaults."""
    path = local_path(source)
    config_path = Path(source.config) if source.config else None
    kind = detect_kind(path, config_path)
    fp = fingerprint_model(path, cache)
    return ResolvedModel(
        name=name,
        source=source,
        kind=kind,
        path=path,
        config_path=config_path,
        fingerprint=fp.sha256,
        components=fp.components,
        size_bytes=fp.size_bytes,
        defaults=model_defaults(config_path or path, kind),
    )


def model_defaults(folder: Path, kind: str) -> dict[str, Any]:
    """width, height, steps, cfg_scale and scheduler (None: the model's own) for a model.

    A model's atelier.json "defaults" win; otherwise the size is the one the UNet was trained at
    (sample_size x the VAE's scale factor), and the x4 upscaler has none (the input decides).
    """
    width = height = None
    if kind != "upscale-x4":
        width = height = _trained_size(folder) or _KIND_SIZES.get(kind)
    defaults: dict[str, Any] = {
        "width": width,
        "height": height,
        "steps": DEFAULT_STEPS,
        "cfg_scale": DEFAULT_CFG_SCALE,
        "scheduler": None,
    }
    marker = folder / "atelier.json"
    if folder.is_dir() and marker.is_file():
        own = read_json(marker).get("defaults")
        if isinstance(own, dict):
            defaults.update(own)
    return defaults


def _trained_size(folder: Path) -> int | None:
    unet_path = folder / "unet" / "config.json"
    vae_path = folder / "vae" / "config.json"
    if not (folder.is_dir() and unet_path.is_file() and vae_path.is_file()):
        return None
    sample_size = read_json(unet_path).get("sample_size")
    blocks = read_json(vae_path).get("block_out_channels")
    if not isinstance(sample_size, int) or not isinstance(blocks, list) or not blocks:
        return None
    return int(sample_size * 2 ** (len(blocks) - 1))
