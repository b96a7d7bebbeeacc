"""The provenance pieces of a record: environment fingerprint, input/output hashes, comparison.

A record (`core.provenance.ProvenanceRecord`) says what made an image. This module gives the parts
that do not depend on the engine: what the machine and libraries were, the hash of a file or of
an image's pixels, which recorded environment fields differ from now, and how close two images
are (PSNR). torch and numpy are imported inside the functions that need them, so importing this
module stays cheap.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import math
import os
import platform
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import core
from core.errors import BadInput

if TYPE_CHECKING:
    from PIL import Image

# Distribution names as pip knows them, keyed by the name the record uses.
LIBRARIES = {
    "torch": "torch",
    "diffusers": "diffusers",
    "transformers": "transformers",
    "accelerate": "accelerate",
    "peft": "peft",
    "safetensors": "safetensors",
    "numpy": "numpy",
    "pillow": "pillow",
}
_CHUNK = 1 << 20


def environment_fingerprint(device: str, dtype: str) -> dict[str, Any]:
    """What ran a generation: app, machine (node name), python, OS, library versions, device,
    dtype, threads, flags.

    The result is plain JSON (str, int, float, bool, None, dicts). Keys are stable; `gpu` is None
    unless `device` is a CUDA device that torch can see.
    """
    torch = _torch()
    return {
        "app": core.__version__,
        "node": platform.node() or None,
        "python": platform.python_version(),
        "os": platform.platform(),
        "machine": platform.machine(),
        "libraries": library_versions(),
        "device": device,
        "device_name": _device_name(torch, device),
        "cpu": cpu_model(),
        "gpu": _gpu(torch, device),
        "dtype": dtype,
        "attention": _attention_backend(torch),
        "threads": torch.get_num_threads() if torch is not None else None,
        "deterministic": _determinism(torch),
    }


@functools.lru_cache(maxsize=1)
def _library_versions() -> tuple[tuple[str, str | None], ...]:
    versions: list[tuple[str, str | None]] = []
    for key, dist in LIBRARIES.items():
        try:
            versions.append((key, importlib.metadata.version(dist)))
        except importlib.metadata.PackageNotFoundError:
            versions.append((key, None))
    return tuple(versions)


def library_versions() -> dict[str, str | None]:
    """Installed versions of the libraries that decide the pixels (None: not installed)."""
    return dict(_library_versions())


@functools.lru_cache(maxsize=1)
def cpu_model() -> str:
    """The CPU's marketing name ("model name" in /proc/cpuinfo on Linux), else what Python says."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                key, sep, value = line.partition(":")
                if sep and key.strip() == "model name" and value.strip():
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _torch() -> Any:
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency; keep the record honest anyway
        return None
    return torch


def _is_cuda(torch: Any, device: str) -> bool:
    return torch is not None and device.split(":")[0] == "cuda" and torch.cuda.is_available()


def _device_name(torch: Any, device: str) -> str:
    gpu = _gpu(torch, device)
    return str(gpu["name"]) if gpu else cpu_model()


def _gpu(torch: Any, device: str) -> dict[str, Any] | None:
    if not _is_cuda(torch, device):
        return None
    index = torch.device(device).index
    if index is None:
        index = torch.cuda.current_device()
    props = torch.cuda.get_device_properties(index)
    return {
        "name": str(props.name),
        "compute_capability": f"{props.major}.{props.minor}",
        "memory_bytes": int(props.total_memory),
        "driver": nvidia_driver_version(),
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
    }


def nvidia_driver_version() -> str | None:
    """The NVIDIA kernel driver version on Linux (from /proc/driver/nvidia/version), else None."""
    try:
        text = Path("/proc/driver/nvidia/version").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    match = re.search(r"Kernel Module(?: for \S+)?\s+(\d+(?:\.\d+)+)", text)
    return match.group(1) if match else None


def _attention_backend(torch: Any) -> str | None:
    if torch is None:
        return None
    return "sdpa" if hasattr(torch.nn.functional, "scaled_dot_product_attention") else "eager"


def _determinism(torch: Any) -> dict[str, Any]:
    flags: dict[str, Any] = {"cublas_workspace_config": os.environ.get("CUBLAS_WORKSPACE_CONFIG")}
    if torch is None:
        return {"algorithms": None, "cudnn_deterministic": None, "cudnn_benchmark": None, **flags}
    return {
        "algorithms": bool(torch.are_deterministic_algorithms_enabled()),
        "cudnn_deterministic": bool(torch.backends.cudnn.deterministic),
        "cudnn_benchmark": bool(torch.backends.cudnn.benchmark),
        **flags,
    }


# ---- hashes --------------------------------------------------------------------------------


def pixel_sha256(image: Image.Image) -> str:
    """sha256 of an image's pixels, whatever file encoding they came from.

    Hashes f"{mode}:{width}x{height}:" followed by the raw pixel bytes; palette images also hash
    their palette, so two different-looking palette images never share a hash.
    """
    digest = hashlib.sha256(f"{image.mode}:{image.width}x{image.height}:".encode("ascii"))
    digest.update(image.tobytes())
    if image.mode in ("P", "PA"):
        palette = image.getpalette()
        digest.update(b":palette:" + bytes(palette or ()))
    return digest.hexdigest()


def file_sha256(path: str | os.PathLike[str]) -> str:
    """sha256 of a file's bytes, read in 1 MiB pieces."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            while block := handle.read(_CHUNK):
                digest.update(block)
    except OSError as exc:
        raise BadInput(str(path), f"cannot be read ({exc.strerror or exc})") from exc
    return digest.hexdigest()


# ---- comparison ----------------------------------------------------------------------------


def environment_differences(
    recorded: dict[str, Any], current: dict[str, Any]
) -> list[tuple[str, Any, Any]]:
    """(dotted field, recorded value, current value) for every field that differs, by name.

    Nested dicts are compared field by field ("libraries.torch", "gpu.name"); a field present on
    one side only is reported with None on the other.
    """
    old = _flatten(recorded)
    new = _flatten(current)
    return [
        (name, old.get(name), new.get(name))
        for name in sorted(old.keys() | new.keys())
        if old.get(name) != new.get(name)
    ]


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def psnr(a: Image.Image, b: Image.Image) -> float:
    """Peak signal-to-noise ratio in dB over 8-bit channels; inf when the pixels are equal."""
    if a.size != b.size:
        sizes = f"{a.width}x{a.height} and {b.width}x{b.height}"
        raise BadInput("image", f"sizes differ: {sizes} cannot be compared")
    import numpy as np

    mode = a.mode if a.mode == b.mode and a.mode in ("L", "LA", "RGB", "RGBA") else None
    if mode is None:
        has_alpha = "A" in a.getbands() or "A" in b.getbands()
        mode = "RGBA" if has_alpha else "RGB"
    left = np.asarray(a.convert(mode), dtype=np.float64)
    right = np.asarray(b.convert(mode), dtype=np.float64)
    mse = float(np.mean((left - right) ** 2))
    if mse == 0.0:
        return math.inf
    return 10.0 * math.log10(255.0**2 / mse)


__all__ = [
    "LIBRARIES",
    "cpu_model",
    "environment_differences",
    "environment_fingerprint",
    "file_sha256",
    "library_versions",
    "nvidia_driver_version",
    "pixel_sha256",
    "psnr",
]
