"""The built-in demo models, so nothing is downloaded.

`demo:sd` is a small model really trained (by `training/train_demo_sd.py`) to draw one shape in
one colour on a background of another: "a red circle on a blue background" gives that. Its
weights ship in `core/resources/models/demo-sd` in float16 (12 MB); the demo folder holds them as
float32, like any checkpoint a user would point Atelier at.

The other demo models are standard diffusers folders with small random weights that keep the
real shape logic (scale factor 8 VAE, cross-attention UNet, the real CLIP tokenizer), built
deterministically from fixed seeds: the same bytes, so the same fingerprint, on every machine
with the same torch. Components are seeded by their role, so `demo:sd-inpaint` and
`demo:sd-depth` share an identical text encoder and VAE. They exercise every pipeline; only
`demo:sd` draws something meaningful (its 4-channel UNet also inpaints, by latent blending).

A folder is built once, on first use, into the demo folder (`ATELIER_DEMO_DIR`, else the user
cache) and reused after that.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import ModelError
from core.paths import resources_dir, user_cache_dir

if TYPE_CHECKING:
    from core.models.fingerprint import FingerprintCache

DEMO_VERSION = 1
TRAINED_SD = "models/demo-sd"  # under core/resources/
DEMO_MODELS: tuple[str, ...] = (
    "demo:sd",
    "demo:sd-inpaint",
    "demo:sd-depth",
    "demo:sd-upscale",
    "demo:sdxl",
    "demo:sdxl-refiner",
)

_KINDS = {
    "demo:sd": "sd2",  # v-prediction, as SD 2.x
    "demo:sd-inpaint": "inpaint",
    "demo:sd-depth": "depth",
    "demo:sd-upscale": "upscale-x4",
    "demo:sdxl": "sdxl",
    "demo:sdxl-refiner": "sdxl-refiner",
}
_DEFAULTS: dict[str, dict[str, Any]] = {
    # The trained model's native size and the settings its evaluation was run at.
    "demo:sd": {"width": 64, "height": 64, "steps": 20, "cfg_scale": 5.0, "scheduler": "ddim"},
    "demo:sd-inpaint": {
        "width": 64,
        "height": 64,
        "steps": 8,
        "cfg_scale": 7.5,
        "scheduler": "ddim",
    },
    "demo:sd-depth": {"width": 64, "height": 64, "steps": 8, "cfg_scale": 7.5, "scheduler": "ddim"},
    "demo:sd-upscale": {"steps": 8, "cfg_scale": 9.0, "scheduler": "ddim"},
    "demo:sdxl": {"width": 64, "height": 64, "steps": 8, "cfg_scale": 5.0, "scheduler": "euler"},
    "demo:sdxl-refiner": {
        "width": 64,
        "height": 64,
        "steps": 8,
        "cfg_scale": 5.0,
        "scheduler": "euler",
    },
}
MARKER = "atelier.json"


def demo_kind(name: str) -> str | None:
    """A demo model's kind (sd2, inpaint, sdxl...), None for a name that is not one."""
    return _KINDS.get(name)


def demo_defaults(name: str) -> dict[str, Any]:
    """The settings a demo model runs at unless a request says otherwise."""
    return dict(_DEFAULTS[name])


def demo_dir() -> Path:
    """Where demo models are built: `ATELIER_DEMO_DIR`, else the user cache folder."""
    override = os.environ.get("ATELIER_DEMO_DIR")
    return Path(override) if override else user_cache_dir() / "demo-models"


def demo_model_path(name: str) -> Path:
    """The folder of a demo model, built on first use."""
    if name not in _KINDS:
        raise ModelError(f"{name}: unknown demo model; expected one of {', '.join(DEMO_MODELS)}")
    version = f"{DEMO_VERSION}"
    if name == "demo:sd":  # retrained weights get their own folder, never a stale build
        version += f"-{_shipped_digest(str(resources_dir() / TRAINED_SD))}"
    target = demo_dir() / f"{name.removeprefix('demo:')}-v{version}"
    if (target / MARKER).is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        build_demo_model(name, work)
        try:
            os.rename(work, target)
        except OSError:
            if not (target / MARKER).is_file():  # a half-built folder from a crash: replace it
                shutil.rmtree(target, ignore_errors=True)
                os.rename(work, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


@dataclass(frozen=True)
class BuiltinModel:
    """A demo model as `atelier models list` shows it: built in, never added to a library."""

    name: str
    kind: str
    path: Path
    fingerprint: str
    components: dict[str, str]
    size_bytes: int


def builtin_models(cache: FingerprintCache | None = None) -> list[BuiltinModel]:
    """Every demo model with its fingerprint. Folders not built yet are built now (once per
    machine); each weight file is hashed once per (path, size, mtime) through `cache`."""
    from core.models.fingerprint import fingerprint_model

    found = []
    for name in DEMO_MODELS:
        path = demo_model_path(name)
        fp = fingerprint_model(path, cache)
        kind = _KINDS[name]
        found.append(BuiltinModel(name, kind, path, fp.sha256, fp.components, fp.size_bytes))
    return found


@functools.cache
def _shipped_digest(folder: str) -> str:
    """A short digest of a shipped weights folder (names and bytes of every file), read once
    per process: resources do not change under a running app."""
    import hashlib

    root = Path(folder)
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


def build_demo_model(name: str, dest: Path) -> None:
    """Write the demo model `name` as a diffusers folder into `dest` (marker written last)."""
    builders: dict[str, Callable[[], Any]] = {
        "demo:sd": _sd,
        "demo:sd-inpaint": _sd_inpaint,
        "demo:sd-depth": _sd_depth,
        "demo:sd-upscale": _sd_upscale,
        "demo:sdxl": _sdxl,
        "demo:sdxl-refiner": _sdxl_refiner,
    }
    pipe = builders[name]()
    pipe.save_pretrained(dest, safe_serialization=True)
    marker = {"demo": name, "version": DEMO_VERSION, "kind": _KINDS[name]}
    marker["defaults"] = _DEFAULTS[name]
    (dest / MARKER).write_text(json.dumps(marker, indent=2, sort_keys=True) + "\n")


# ---- components ---------------------------------------------------------------------------
def _seeded(role: str) -> None:
    import torch

    torch.manual_seed(sum((i + 1) * ord(c) for i, c in enumerate(role)))


def _tokenizer(pad: str = "<|endoftext|>") -> Any:
    from transformers import CLIPTokenizer

    folder = resources_dir() / "tokenizers" / "clip"
    return CLIPTokenizer(
        str(folder / "vocab.json"), str(folder / "merges.txt"), pad_token=pad, model_max_length=77
    )


def _text_encoder(width: int = 32, projection: bool = False) -> Any:
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    config = CLIPTextConfig(
        hidden_size=width,
        intermediate_size=37,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=77,
        vocab_size=49408,
        hidden_act="quick_gelu",
        projection_dim=32,
        bos_token_id=49406,
        eos_token_id=49407,
        pad_token_id=1,
    )
    _seeded(f"text_encoder-{width}-{projection}")
    cls = CLIPTextModelWithProjection if projection else CLIPTextModel
    return cls(config).eval()


def _vae(blocks: tuple[int, ...] = (8, 8, 16, 16), scaling: float = 0.18215) -> Any:
    from diffusers import AutoencoderKL

    _seeded(f"vae-{blocks}")
    return AutoencoderKL(
        block_out_channels=list(blocks),
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D"] * len(blocks),
        up_block_types=["UpDecoderBlock2D"] * len(blocks),
        latent_channels=4,
        layers_per_block=1,
        norm_num_groups=4,
        sample_size=64,
        scaling_factor=scaling,
    ).eval()


def _unet(in_channels: int = 4, **extra: Any) -> Any:
    from diffusers import UNet2DConditionModel

    _seeded(f"unet-{in_channels}-{sorted(extra.items())}")
    kwargs: dict[str, Any] = {
        "block_out_channels": (32, 64),
        "layers_per_block": 1,
        "sample_size": 8,
        "in_channels": in_channels,
        "out_channels": 4,
        "down_block_types": ("CrossAttnDownBlock2D", "DownBlock2D"),
        "up_block_types": ("UpBlock2D", "CrossAttnUpBlock2D"),
        "cross_attention_dim": 32,
        "attention_head_dim": 4,
        "norm_num_groups": 8,
    }
    kwargs.update(extra)
    return UNet2DConditionModel(**kwargs).eval()


def _ddim(**extra: Any) -> Any:
    from diffusers import DDIMScheduler

    return DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
        **extra,
    )


def _sd_parts(in_channels: int = 4) -> dict[str, Any]:
    return {
        "vae": _vae(),
        "text_encoder": _text_encoder(),
        "tokenizer": _tokenizer(),
        "unet": _unet(in_channels),
        "scheduler": _ddim(),
    }


def _sd() -> Any:
    """The trained shapes model, from its shipped float16 weights, as float32."""
    import torch
    from diffusers import StableDiffusionPipeline

    folder = resources_dir() / TRAINED_SD
    if not (folder / "model_index.json").is_file():
        raise ModelError(
            f"{folder}: the trained demo:sd weights are missing; expected a diffusers folder "
            "(restore core/resources/ from the repository, or run python -m training.train_demo_sd)"
        )
    return StableDiffusionPipeline.from_pretrained(
        str(folder), local_files_only=True, torch_dtype=torch.float32
    )


def _sd_inpaint() -> Any:
    from diffusers import StableDiffusionInpaintPipeline

    return StableDiffusionInpaintPipeline(
        **_sd_parts(9),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


def _sd_depth() -> Any:
    from diffusers import StableDiffusionDepth2ImgPipeline
    from transformers import DPTConfig, DPTForDepthEstimation, DPTImageProcessor

    config = DPTConfig(
        hidden_size=32,
        num_hidden_layers=4,
        num_attention_heads=4,
        intermediate_size=37,
        image_size=32,
        patch_size=8,
        is_hybrid=False,
        backbone_out_indices=[0, 1, 2, 3],
        reassemble_factors=[4, 2, 1, 0.5],
        neck_hidden_sizes=[8, 16, 32, 32],
        fusion_hidden_size=16,
    )
    _seeded("depth_estimator")
    estimator = DPTForDepthEstimation(config).eval()
    processor = DPTImageProcessor(size={"height": 32, "width": 32}, keep_aspect_ratio=False)
    return StableDiffusionDepth2ImgPipeline(
        **_sd_parts(5), depth_estimator=estimator, feature_extractor=processor
    )


def _sd_upscale() -> Any:
    from diffusers import DDPMScheduler, StableDiffusionUpscalePipeline

    low_res = DDPMScheduler(beta_start=0.0001, beta_end=0.02, beta_schedule="scaled_linear")
    return StableDiffusionUpscalePipeline(
        vae=_vae((8, 16, 16), scaling=0.08333),
        text_encoder=_text_encoder(),
        tokenizer=_tokenizer(),
        unet=_unet(7, num_class_embeds=1000),
        low_res_scheduler=low_res,
        scheduler=_ddim(prediction_type="v_prediction"),
        max_noise_level=350,
    )


def _sdxl_unet(cross_attention_dim: int, projection_input: int) -> Any:
    return _unet(
        4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=8,
        transformer_layers_per_block=(1, 2),
        projection_class_embeddings_input_dim=projection_input,
        cross_attention_dim=cross_attention_dim,
    )


def _euler() -> Any:
    from diffusers import EulerDiscreteScheduler

    return EulerDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        steps_offset=1,
        timestep_spacing="leading",
    )


def _sdxl() -> Any:
    from diffusers import StableDiffusionXLPipeline

    return StableDiffusionXLPipeline(
        vae=_vae(scaling=0.13025),
        text_encoder=_text_encoder(32),
        text_encoder_2=_text_encoder(64, projection=True),
        tokenizer=_tokenizer(),
        tokenizer_2=_tokenizer(pad="!"),
        unet=_sdxl_unet(96, 6 * 8 + 32),
        scheduler=_euler(),
    )


def _sdxl_refiner() -> Any:
    from diffusers import StableDiffusionXLImg2ImgPipeline

    return StableDiffusionXLImg2ImgPipeline(
        vae=_vae(scaling=0.13025),
        text_encoder=None,
        text_encoder_2=_text_encoder(64, projection=True),
        tokenizer=None,
        tokenizer_2=_tokenizer(pad="!"),
        unet=_sdxl_unet(64, 5 * 8 + 32),
        scheduler=_euler(),
        requires_aesthetics_score=True,
        force_zeros_for_empty_prompt=False,
    )
