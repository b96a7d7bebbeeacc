"""Test helper: write a diffusers SD1-style folder as one original-layout (LDM/CompVis) checkpoint.

The key mapping follows diffusers' `scripts/convert_diffusers_to_original_stable_diffusion.py`,
generalised from its hard-coded SD1 shape (4 levels, 2 layers per block) to any
`block_out_channels` / `layers_per_block` read from the configs, so it works on the tiny demo
models. It is the inverse of diffusers' `convert_ldm_unet_checkpoint` /
`convert_ldm_vae_checkpoint` / `convert_ldm_clip_checkpoint`, which `from_single_file` runs.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."
CLIP_PREFIX = "cond_stage_model.transformer."

_UNET_TOP = {
    "time_embedding.linear_1.": "time_embed.0.",
    "time_embedding.linear_2.": "time_embed.2.",
    "conv_in.": "input_blocks.0.0.",
    "conv_norm_out.": "out.0.",
    "conv_out.": "out.2.",
    "add_embedding.linear_1.": "label_emb.0.0.",
    "add_embedding.linear_2.": "label_emb.0.2.",
    "class_embedding.linear_1.": "label_emb.0.0.",
    "class_embedding.linear_2.": "label_emb.0.2.",
    "class_embedding.weight": "label_emb.weight",
}
_UNET_RESNET = {
    "norm1": "in_layers.0",
    "conv1": "in_layers.2",
    "norm2": "out_layers.0",
    "conv2": "out_layers.3",
    "time_emb_proj": "emb_layers.1",
    "conv_shortcut": "skip_connection",
}
_VAE_ATTN = {
    "group_norm.": "norm.",
    "to_q.": "q.",
    "to_k.": "k.",
    "to_v.": "v.",
    "to_out.0.": "proj_out.",
}


def convert_folder(folder: Path) -> dict[str, Any]:
    """The state dict of an LDM checkpoint holding the folder's UNet, VAE and text encoder."""
    from safetensors.torch import load_file

    unet_config = _config(folder / "unet" / "config.json")
    vae_config = _config(folder / "vae" / "config.json")
    unet = load_file(str(folder / "unet" / "diffusion_pytorch_model.safetensors"))
    vae = load_file(str(folder / "vae" / "diffusion_pytorch_model.safetensors"))
    clip = load_file(str(folder / "text_encoder" / "model.safetensors"))
    out: dict[str, Any] = {}
    for key, value in unet.items():
        out[UNET_PREFIX + unet_key(key, unet_config, unet)] = value
    for key, value in vae.items():
        new_key = vae_key(key, len(vae_config["block_out_channels"]))
        if ".mid.attn_1." in new_key and new_key.endswith(".weight") and value.ndim == 2:
            value = value.reshape(*value.shape, 1, 1)  # linear -> 1x1 conv, as LDM stores it
        out[VAE_PREFIX + new_key] = value
    for key, value in clip.items():
        # transformers >= 5.6 saves CLIPTextModel keys without the `text_model.` prefix.
        out[CLIP_PREFIX + (key if key.startswith("text_model.") else f"text_model.{key}")] = value
    return out


def write_checkpoint(folder: Path, dest: Path) -> Path:
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in convert_folder(folder).items()}, str(dest))
    return dest


def unet_key(key: str, config: dict[str, Any], state: dict[str, Any]) -> str:
    for old, new in _UNET_TOP.items():
        if key.startswith(old):
            return new + key[len(old) :]
    per_block = int(config["layers_per_block"])
    if m := re.match(r"down_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.*)", key):
        block, part, layer, rest = int(m[1]), m[2], int(m[3]), m[4]
        index = 1 + block * (per_block + 1) + layer
        return f"input_blocks.{index}.{_unet_part(part, rest)}"
    if m := re.match(r"down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.*)", key):
        index = (int(m[1]) + 1) * (per_block + 1)
        return f"input_blocks.{index}.0.op.{m[2]}"
    if m := re.match(r"mid_block\.resnets\.(\d+)\.(.*)", key):
        return f"middle_block.{2 * int(m[1])}.{_resnet(m[2])}"
    if m := re.match(r"mid_block\.attentions\.0\.(.*)", key):
        return f"middle_block.1.{m[1]}"
    if m := re.match(r"up_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.*)", key):
        block, part, layer, rest = int(m[1]), m[2], int(m[3]), m[4]
        index = block * (per_block + 1) + layer
        return f"output_blocks.{index}.{_unet_part(part, rest)}"
    if m := re.match(r"up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.*)", key):
        block = int(m[1])
        index = block * (per_block + 1) + per_block
        has_attention = any(k.startswith(f"up_blocks.{block}.attentions.") for k in state)
        return f"output_blocks.{index}.{2 if has_attention else 1}.conv.{m[2]}"
    raise KeyError(f"no LDM name for UNet weight {key}")


def vae_key(key: str, levels: int) -> str:
    coder, _, rest = key.partition(".")
    if coder not in ("encoder", "decoder"):
        return key  # quant_conv, post_quant_conv
    if rest.startswith("conv_norm_out."):
        return f"{coder}.norm_out.{rest.removeprefix('conv_norm_out.')}"
    if m := re.match(r"(down|up)_blocks\.(\d+)\.resnets\.(\d+)\.(.*)", rest):
        level = int(m[2]) if m[1] == "down" else levels - 1 - int(m[2])
        return f"{coder}.{m[1]}.{level}.block.{m[3]}.{_vae_resnet(m[4])}"
    if m := re.match(r"down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.*)", rest):
        return f"{coder}.down.{m[1]}.downsample.conv.{m[2]}"
    if m := re.match(r"up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.*)", rest):
        return f"{coder}.up.{levels - 1 - int(m[1])}.upsample.conv.{m[2]}"
    if m := re.match(r"mid_block\.resnets\.(\d+)\.(.*)", rest):
        return f"{coder}.mid.block_{int(m[1]) + 1}.{_vae_resnet(m[2])}"
    if m := re.match(r"mid_block\.attentions\.0\.(.*)", rest):
        inner = m[1]
        for old, new in _VAE_ATTN.items():
            if inner.startswith(old):
                inner = new + inner[len(old) :]
        return f"{coder}.mid.attn_1.{inner}"
    return key  # conv_in, conv_out keep their names


def _unet_part(part: str, rest: str) -> str:
    return f"0.{_resnet(rest)}" if part == "resnets" else f"1.{rest}"


def _resnet(rest: str) -> str:
    name, _, tail = rest.partition(".")
    return f"{_UNET_RESNET.get(name, name)}.{tail}"


def _vae_resnet(rest: str) -> str:
    return rest.replace("conv_shortcut.", "nin_shortcut.")


def _config(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data
