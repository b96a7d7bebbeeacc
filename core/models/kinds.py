"""A model's kind (sd1, sdxl, inpaint, ...) from its configs, or from a weights file's header.

Only JSON is read: no tensor is loaded, so telling the kind of a 7 GB checkpoint is instant.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from core.errors import ModelError
from core.models.weights_file import check_safetensors, is_pickle_file, read_safetensors_header

__all__ = [
    "KINDS",
    "check_safetensors",
    "detect_kind",
    "has_component",
    "kind_from_header",
    "read_json",
    "unet_config",
]

KINDS = ("sd1", "sd2", "sdxl", "sdxl-refiner", "inpaint", "depth", "upscale-x4")

_LDM_UNET = "model.diffusion_model."


def detect_kind(path: Path, config: Path | None = None) -> str:
    """The kind of a diffusers folder, or of a single weights file (from `config` when given)."""
    if path.is_dir():
        return _folder_kind(path)
    if config is not None:
        return _folder_kind(config)
    if is_pickle_file(path):
        raise ModelError(
            f"{path}: the kind of a pickle checkpoint cannot be read without loading it; "
            "give its local config folder"
        )
    return kind_from_header(path)


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from a config file; ModelError naming the file when it is not one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ModelError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise ModelError(f"{path}: expected a JSON object")
    return data


def unet_config(folder: Path) -> dict[str, Any]:
    path = folder / "unet" / "config.json"
    if not path.is_file():
        raise ModelError(f"{folder}: not a diffusers Stable Diffusion folder (no unet/config.json)")
    return read_json(path)


def _folder_kind(folder: Path) -> str:
    atelier = folder / "atelier.json"
    if atelier.is_file():
        kind = read_json(atelier).get("kind")
        if kind is not None:
            if kind not in KINDS:
                raise ModelError(f"{atelier}: unknown kind {kind!r}; expected one of {KINDS}")
            return str(kind)
    index_path = folder / "model_index.json"
    if not index_path.is_file():
        raise ModelError(f"{folder}: not a diffusers model folder (no model_index.json)")
    index = read_json(index_path)
    unet = unet_config(folder)
    in_channels = unet.get("in_channels", 4)
    if in_channels == 9:
        return "inpaint"
    if in_channels == 5:
        return "depth"
    if in_channels == 7 and ("low_res_scheduler" in index or unet.get("num_class_embeds")):
        return "upscale-x4"
    if unet.get("addition_embed_type") == "text_time":
        has_first_encoder = has_component(index, "text_encoder")
        if index.get("requires_aesthetics_score") or not has_first_encoder:
            return "sdxl-refiner"
        if has_component(index, "text_encoder_2"):
            return "sdxl"
    if in_channels != 4:
        raise ModelError(f"{folder}: a UNet with {in_channels} input channels is not a known kind")
    if unet.get("cross_attention_dim") == 1024 or _prediction_type(folder) == "v_prediction":
        return "sd2"
    return "sd1"


def has_component(index: dict[str, Any], name: str) -> bool:
    """Whether model_index.json names a real (non-null) component."""
    value = index.get(name)
    return isinstance(value, list) and len(value) == 2 and value[1] is not None


def _prediction_type(folder: Path) -> str | None:
    path = folder / "scheduler" / "scheduler_config.json"
    return str(read_json(path).get("prediction_type")) if path.is_file() else None


def kind_from_header(path: Path) -> str:
    """The kind of an original-layout (LDM/A1111) .safetensors checkpoint, from its header."""
    header = read_safetensors_header(path)
    names = header.keys()
    if not any(name.startswith(_LDM_UNET) for name in names):
        raise ModelError(
            f"{path}: not a Stable Diffusion checkpoint (no {_LDM_UNET}* weights; "
            "a VAE, LoRA or embedding file?)"
        )
    conv_in = header.get(f"{_LDM_UNET}input_blocks.0.0.weight", {}).get("shape", [0, 4])
    in_channels = conv_in[1] if len(conv_in) > 1 else 4
    if in_channels == 9:
        return "inpaint"
    if in_channels == 5:
        return "depth"
    if in_channels == 7:
        return "upscale-x4"
    if any(name.startswith("conditioner.embedders.1.") for name in names):
        return "sdxl"
    if any(name.startswith("conditioner.embedders.0.") for name in names):
        return "sdxl-refiner"
    if any(name.startswith("cond_stage_model.model.") for name in names):
        return "sd2"  # OpenCLIP text encoder
    if _cross_attention_dim(header) == 1024:
        return "sd2"
    return "sd1"


def _cross_attention_dim(header: dict[str, Any]) -> int | None:
    for name, info in header.items():
        if name.startswith(_LDM_UNET) and name.endswith("attn2.to_k.weight"):
            shape = info.get("shape", [])
            return int(shape[1]) if len(shape) == 2 else None
    return None
