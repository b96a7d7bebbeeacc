"""Loading a model's diffusers pipeline from local files only; every failure a ModelError.

torch and diffusers are imported inside the functions: importing this module costs nothing.
"""

from __future__ import annotations

import inspect
import warnings
from pathlib import Path
from typing import Any

from core.errors import ModelError
from core.models.kinds import KINDS, has_component, read_json
from core.models.weights_file import check_safetensors

# The base pipeline class of each kind; the engine derives img2img/inpaint variants from it.
PIPELINE_CLASSES = {
    "sd1": "StableDiffusionPipeline",
    "sd2": "StableDiffusionPipeline",
    "inpaint": "StableDiffusionInpaintPipeline",
    "depth": "StableDiffusionDepth2ImgPipeline",
    "upscale-x4": "StableDiffusionUpscalePipeline",
    "sdxl": "StableDiffusionXLPipeline",
    "sdxl-refiner": "StableDiffusionXLImg2ImgPipeline",
}
# Components diffusers treats as optional that a kind cannot work without.
_REQUIRED = {"sdxl": ("text_encoder", "text_encoder_2"), "sdxl-refiner": ("text_encoder_2",)}


def pipeline_class(kind: str) -> Any:
    if kind not in PIPELINE_CLASSES:
        raise ModelError(f"unknown model kind {kind!r}; expected one of {', '.join(KINDS)}")
    import diffusers

    return getattr(diffusers, PIPELINE_CLASSES[kind])


def load_pipeline(
    path: Path,
    kind: str,
    *,
    source_type: str,
    config: Path | None,
    torch_dtype: Any = None,
) -> Any:
    """The kind's base DiffusionPipeline from a local folder or a single weights file.

    A single file needs `config`, a local diffusers folder with the same architecture: without
    one, diffusers would fetch configs from the hub.
    """
    cls = pipeline_class(kind)
    single = source_type == "single_file" or path.is_file()
    if single and config is None:
        raise ModelError(
            f"{path}: a single weights file needs a local config folder (a diffusers folder "
            "of the same architecture) to load; the model hub cannot be reached"
        )
    _check_weights(path)
    kwargs = _extra_kwargs(cls, kind, config if single and config else path)
    what = f"{path} (config {config})" if single else str(path)
    try:
        with warnings.catch_warnings():
            # diffusers 0.42 renamed torch_dtype to dtype; older releases know only torch_dtype
            warnings.filterwarnings("ignore", message=".*torch_dtype.*", category=FutureWarning)
            pipe = _load(cls, path, config, single, torch_dtype, kwargs)
    except ModelError:
        raise
    except Exception as exc:
        raise ModelError(f"{what}: cannot load as kind {kind} ({_cause(exc)})") from exc
    missing = [name for name in _REQUIRED.get(kind, ()) if getattr(pipe, name, None) is None]
    if missing:
        raise ModelError(f"{what}: cannot load as kind {kind} (no {', '.join(missing)})")
    return pipe


def _load(
    cls: Any, path: Path, config: Path | None, single: bool, dtype: Any, kwargs: dict[str, Any]
) -> Any:
    if single:
        return cls.from_single_file(
            str(path), config=str(config), local_files_only=True, torch_dtype=dtype, **kwargs
        )
    variant = weights_variant(path)
    if variant is not None:
        kwargs = {**kwargs, "variant": variant}
    return cls.from_pretrained(str(path), local_files_only=True, torch_dtype=dtype, **kwargs)


def weights_variant(folder: Path) -> str | None:
    """The weights variant of a folder holding only variant files for some component (as
    `atelier models download --variant fp16` leaves it): diffusers loads those only when told."""
    import re

    pattern = re.compile(r"^[\w-]+?\.(\w+)(?:-\d+-of-\d+)?\.safetensors$")
    for component in sorted(p for p in folder.iterdir() if p.is_dir()):
        names = [p.name for p in component.glob("*.safetensors")]
        tagged = [m[1] for m in map(pattern.match, names) if m]
        if tagged and len(tagged) == len(names):
            return tagged[0]
    return None


def load_vae(path: Path, *, config: Path | None = None, torch_dtype: Any = None) -> Any:
    """An AutoencoderKL to use instead of a model's own VAE.

    `path` is a VAE folder (config.json + weights), a model folder with a vae/ subfolder, or a
    single .safetensors file; a single file needs `config`, a local VAE or model folder of the
    same architecture (the base model's folder will do), since the hub cannot be reached.
    """
    from diffusers import AutoencoderKL

    _check_weights(path)
    try:
        if path.is_dir():
            sub = {"subfolder": "vae"} if (path / "vae" / "config.json").is_file() else {}
            return AutoencoderKL.from_pretrained(
                str(path), local_files_only=True, torch_dtype=torch_dtype, **sub
            )
        if not path.is_file():
            raise ModelError(f"{path}: VAE not found")
        if config is None:
            raise ModelError(
                f"{path}: a single VAE weights file needs a local config folder (a VAE folder or "
                "a model folder of the same architecture); or give a VAE folder instead"
            )
        sub = {"subfolder": "vae"} if (config / "vae" / "config.json").is_file() else {}
        return AutoencoderKL.from_single_file(
            str(path), config=str(config), local_files_only=True, torch_dtype=torch_dtype, **sub
        )
    except ModelError:
        raise
    except Exception as exc:
        raise ModelError(f"{path}: cannot load as a VAE ({_cause(exc)})") from exc


def _extra_kwargs(cls: Any, kind: str, folder: Path) -> dict[str, Any]:
    """Keep the safety checker, watermarker and missing depth estimator out of the pipeline."""
    params = inspect.signature(cls.__init__).parameters
    kwargs: dict[str, Any] = {}
    if "safety_checker" in params:
        kwargs.update(safety_checker=None, feature_extractor=None)
    if "requires_safety_checker" in params:
        kwargs["requires_safety_checker"] = False
    if "watermarker" in params:
        kwargs["watermarker"] = None
    if "add_watermarker" in params:
        kwargs["add_watermarker"] = False  # an invisible watermark would change the pixels
    if kind == "depth":
        index_path = folder / "model_index.json"
        index = read_json(index_path) if index_path.is_file() else {}
        if not has_component(index, "depth_estimator"):
            kwargs.update(depth_estimator=None, feature_extractor=None)
    return kwargs


def _check_weights(path: Path) -> None:
    """Name a corrupt .safetensors file before diffusers fails on it with a vaguer message."""
    if path.is_file():
        if path.suffix.lower() == ".safetensors":
            check_safetensors(path)
        return
    if not path.is_dir():
        raise ModelError(f"{path}: not found")
    for file in sorted(path.rglob("*.safetensors")):
        check_safetensors(file)


def _cause(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__
