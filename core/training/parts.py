"""The base model's parts a training run needs, loaded in float32 from its local folder, and
the encodings that do not change during a run (instance latents, frozen prompt embeddings)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import BadInput, ModelError

# Kinds one training loop serves: SD 1.x and 2.x (epsilon or v-prediction), 4-channel UNets.
SUPPORTED_KINDS = ("sd1", "sd2")


@dataclass
class BaseParts:
    tokenizer: Any
    text_encoder: Any
    vae: Any
    unet: Any
    noise_scheduler: Any
    prediction_type: str


def check_supported(kind: str, method: str, model: str) -> None:
    if kind not in SUPPORTED_KINDS:
        raise BadInput(
            "base",
            f"{model} is a {kind} model; {method} training supports "
            f"{' and '.join(SUPPORTED_KINDS)} text-to-image models",
        )


def load_parts(folder: Path) -> BaseParts:
    import torch
    from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTokenizer

    if not (folder / "unet").is_dir():
        raise ModelError(f"{folder}: training needs a diffusers folder with unet/, vae/, ...")
    kwargs: dict[str, Any] = {"local_files_only": True}
    try:
        tokenizer = CLIPTokenizer.from_pretrained(folder, subfolder="tokenizer", **kwargs)
        text_encoder = CLIPTextModel.from_pretrained(
            folder, subfolder="text_encoder", torch_dtype=torch.float32, **kwargs
        )
        vae = AutoencoderKL.from_pretrained(
            folder, subfolder="vae", torch_dtype=torch.float32, **kwargs
        )
        unet = UNet2DConditionModel.from_pretrained(
            folder, subfolder="unet", torch_dtype=torch.float32, **kwargs
        )
        scheduler = DDPMScheduler.from_pretrained(folder, subfolder="scheduler", **kwargs)
    except (OSError, ValueError) as exc:
        raise ModelError(f"{folder}: cannot load the model's parts for training ({exc})") from exc
    for module in (text_encoder, vae, unet):
        module.requires_grad_(False)
        module.eval()
    return BaseParts(
        tokenizer=tokenizer,
        text_encoder=text_encoder,
        vae=vae,
        unet=unet,
        noise_scheduler=scheduler,
        prediction_type=str(scheduler.config.get("prediction_type", "epsilon")),
    )


def token_ids(tokenizer: Any, captions: list[str]) -> Any:
    return tokenizer(
        captions,
        padding="max_length",
        max_length=tokenizer.model_max_length,
        truncation=True,
        return_tensors="pt",
    ).input_ids


def encode_latents(vae: Any, pixels: Any) -> Any:
    """The posterior mean of each image, scaled as the UNet sees latents (no noise: the same
    images always give the same latents)."""
    import torch

    with torch.no_grad():
        latents = vae.encode(pixels).latent_dist.mean
    return latents * float(vae.config.scaling_factor)


def encode_prompts(text_encoder: Any, ids: Any) -> Any:
    return text_encoder(ids)[0]
