"""Trained weights as files other tools load.

- LoRA: one .safetensors in the kohya layout (`lora_unet_<module>` / `lora_te_<module>`, with
  `.lora_down.weight`, `.lora_up.weight` and `.alpha`) and `ss_*` / `modelspec.*` metadata, the
  form AUTOMATIC1111, ComfyUI, InvokeAI and diffusers' `load_lora_weights` all read.
- Textual inversion: diffusers' `learned_embeds.safetensors` layout, `{token: vector}`.
- DreamBooth: a diffusers folder, the base model's files with the trained UNet in place.

The metadata holds only what the spec decides (no dates, no timings), so the same run always
writes the same bytes and the file's fingerprint is the weights' fingerprint.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from core.training.parts import BaseParts
from core.training.spec import TrainingSpec

_ARCHITECTURE = {"sd1": "stable-diffusion-v1", "sd2": "stable-diffusion-v2-768-v"}
_BASE_VERSION = {"sd1": "sd_v1", "sd2": "sd_v2"}


def kohya_lora_tensors(parts: BaseParts) -> dict[str, Any]:
    """The peft adapters of the UNet (and text encoder) under kohya's key names."""
    tensors: dict[str, Any] = {}
    for prefix, module in (("lora_unet_", parts.unet), ("lora_te_", parts.text_encoder)):
        params = dict(module.named_parameters())
        for name, down in params.items():
            if not name.endswith(".lora_A.default.weight"):
                continue
            path = name[: -len(".lora_A.default.weight")]
            up = params[f"{path}.lora_B.default.weight"]
            layer = module.get_submodule(path)
            key = prefix + path.replace(".", "_")
            tensors[f"{key}.lora_down.weight"] = down.detach().cpu().contiguous().clone()
            tensors[f"{key}.lora_up.weight"] = up.detach().cpu().contiguous().clone()
            alpha = float(layer.lora_alpha["default"])
            tensors[f"{key}.alpha"] = tensors[f"{key}.lora_down.weight"].new_tensor(alpha)
    return tensors


def lora_metadata(spec: TrainingSpec, base: dict[str, Any]) -> dict[str, str]:
    kind = str(base["kind"])
    architecture = _ARCHITECTURE.get(kind, "stable-diffusion-v1")
    return {
        "format": "pt",
        "ss_network_module": "networks.lora",
        "ss_network_dim": str(spec.rank),
        "ss_network_alpha": str(spec.alpha),
        "ss_base_model_version": _BASE_VERSION.get(kind, "sd_v1"),
        "ss_v2": str(kind == "sd2"),
        "ss_sd_model_name": str(base["name"]),
        "ss_new_sd_model_hash": str(base["fingerprint"]),
        "ss_output_name": spec.name,
        "ss_max_train_steps": str(spec.steps),
        "ss_learning_rate": str(spec.lr),
        "ss_lr_scheduler": spec.lr_schedule,
        "ss_seed": str(spec.seed),
        "ss_resolution": f"({spec.resolution}, {spec.resolution})",
        "ss_train_batch_size": str(spec.batch_size),
        "ss_gradient_accumulation_steps": str(spec.grad_accumulation),
        "ss_network_train_unet_only": str(not spec.train_text_encoder),
        "ss_training_comment": f"atelier training spec {spec.hash()}",
        "modelspec.sai_model_spec": "1.0.0",
        "modelspec.architecture": f"{architecture}/lora",
        "modelspec.implementation": "https://github.com/huggingface/diffusers",
        "modelspec.title": spec.name,
        "modelspec.resolution": f"{spec.resolution}x{spec.resolution}",
    }


def save_kohya_lora(path: Path, parts: BaseParts, spec: TrainingSpec, base: dict[str, Any]) -> None:
    from safetensors.torch import save

    data = save(kohya_lora_tensors(parts), metadata=lora_metadata(spec, base))
    path.write_bytes(canonical_safetensors(data))


def save_embedding(
    path: Path, token: str, vector: Any, spec: TrainingSpec, base: dict[str, Any]
) -> None:
    from safetensors.torch import save

    metadata = {
        "format": "pt",
        "token": token,
        "base_model": str(base["name"]),
        "base_fingerprint": str(base["fingerprint"]),
        "training_spec": spec.hash(),
    }
    data = save({token: vector.cpu().contiguous()}, metadata=metadata)
    path.write_bytes(canonical_safetensors(data))


def save_dreambooth_folder(
    path: Path, parts: BaseParts, base_folder: Path, with_text_encoder: bool
) -> None:
    """The base folder's files (weights of the parts not trained included), then the trained
    UNet (and text encoder) saved over theirs."""
    trained = {"unet"} | ({"text_encoder"} if with_text_encoder else set())
    shutil.copytree(
        base_folder,
        path,
        ignore=lambda folder, names: [
            n for n in names if Path(folder) == base_folder and (n in trained or n.startswith("."))
        ],
    )
    parts.unet.save_pretrained(path / "unet", safe_serialization=True)
    if with_text_encoder:
        parts.text_encoder.save_pretrained(path / "text_encoder", safe_serialization=True)
    for name in sorted(trained):
        for file in sorted((path / name).glob("*.safetensors")):
            file.write_bytes(canonical_safetensors(file.read_bytes()))


def canonical_safetensors(data: bytes) -> bytes:
    """The same file with its JSON header's keys sorted: safetensors writes its metadata (and
    may write its tensor entries) in a hash map's order, which changes from one process to the
    next, and the fingerprint of a trained file must depend on its weights only."""
    import json
    import struct

    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + length])
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data[8 + length :]
