"""A Stable Diffusion 1.5-sized model with random weights, built locally from the published
configs (nothing downloaded): the real architecture and sizes, so time and memory are real.

Built once into `bench/.cache/sd15-random` as a diffusers folder (about 4 GB of float32
safetensors) and reused; the app opens it as a model path like any local folder.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from bench.common import CACHE_DIR, ROOT, log

SD15_DIR = CACHE_DIR / "sd15-random"
MARKER = ".bench-complete"
VERSION = "1"


def sd15_path() -> Path:
    """The folder of the SD 1.5-sized model, built on first use."""
    marker = SD15_DIR / MARKER
    if marker.is_file() and marker.read_text().strip() == VERSION:
        return SD15_DIR
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".sd15-tmp-", dir=CACHE_DIR))
    try:
        log("building the SD 1.5-sized model (random weights; once, about a minute)")
        build(work)
        (work / MARKER).write_text(VERSION + "\n")
        shutil.rmtree(SD15_DIR, ignore_errors=True)
        os.rename(work, SD15_DIR)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return SD15_DIR


def build(dest: Path) -> None:
    import torch
    from diffusers import StableDiffusionPipeline

    torch.manual_seed(1505)
    pipe = StableDiffusionPipeline(
        vae=_vae(),
        text_encoder=_text_encoder(),
        tokenizer=_tokenizer(),
        unet=_unet(),
        scheduler=_scheduler(),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(dest, safe_serialization=True)


def _unet() -> Any:
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(
        sample_size=64,
        in_channels=4,
        out_channels=4,
        down_block_types=(
            "CrossAttnDownBlock2D",
            "CrossAttnDownBlock2D",
            "CrossAttnDownBlock2D",
            "DownBlock2D",
        ),
        up_block_types=(
            "UpBlock2D",
            "CrossAttnUpBlock2D",
            "CrossAttnUpBlock2D",
            "CrossAttnUpBlock2D",
        ),
        block_out_channels=(320, 640, 1280, 1280),
        layers_per_block=2,
        downsample_padding=1,
        mid_block_scale_factor=1,
        act_fn="silu",
        norm_num_groups=32,
        norm_eps=1e-5,
        cross_attention_dim=768,
        attention_head_dim=8,
        flip_sin_to_cos=True,
        freq_shift=0,
    ).eval()


def _vae() -> Any:
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(128, 256, 512, 512),
        layers_per_block=2,
        latent_channels=4,
        norm_num_groups=32,
        act_fn="silu",
        sample_size=512,
        scaling_factor=0.18215,
    ).eval()


def _text_encoder() -> Any:
    from transformers import CLIPTextConfig, CLIPTextModel

    config = CLIPTextConfig(
        hidden_size=768,
        intermediate_size=3072,
        num_hidden_layers=12,
        num_attention_heads=12,
        max_position_embeddings=77,
        vocab_size=49408,
        hidden_act="quick_gelu",
        projection_dim=768,
        bos_token_id=49406,
        eos_token_id=49407,
        pad_token_id=1,
    )
    return CLIPTextModel(config).eval()


def _tokenizer() -> Any:
    from transformers import CLIPTokenizer

    folder = ROOT / "core" / "resources" / "tokenizers" / "clip"
    return CLIPTokenizer(
        str(folder / "vocab.json"),
        str(folder / "merges.txt"),
        pad_token="<|endoftext|>",
        model_max_length=77,
    )


def _scheduler() -> Any:
    from diffusers import PNDMScheduler

    return PNDMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        num_train_timesteps=1000,
        set_alpha_to_one=False,
        skip_prk_steps=True,
        steps_offset=1,
    )


if __name__ == "__main__":
    print(sd15_path())
