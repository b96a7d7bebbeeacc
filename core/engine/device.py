"""Device, dtype and thread-count choices, and the CPU noise generators."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from core.errors import BadInput


def select_device(requested: str | None) -> str:
    """`cuda` when a CUDA GPU is there, else `mps`, else `cpu`; an explicit choice is checked."""
    import torch

    if requested:
        kind = requested.split(":")[0]
        if kind == "cuda" and not torch.cuda.is_available():
            raise BadInput("device", f"{requested} was asked for but no CUDA device is available")
        if kind == "mps" and not _mps_available():
            raise BadInput("device", f"{requested} was asked for but MPS is not available")
        return requested
    if torch.cuda.is_available():
        return "cuda"
    if _mps_available():
        return "mps"
    return "cpu"


def select_dtype(device: str, requested: str | None) -> str:
    """float16 on GPUs, float32 on the CPU, unless asked otherwise."""
    if requested:
        if requested == "float16" and device == "cpu":
            raise BadInput("dtype", "float16 is not supported on the CPU; use float32 or bfloat16")
        return requested
    return "float32" if device == "cpu" else "float16"


def torch_dtype(name: str) -> Any:
    import torch

    return {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}[name]


def current_threads() -> int:
    import torch

    return int(torch.get_num_threads())


# Below this many output pixels (all images of a batch together) a CPU run gets one thread. At
# such sizes torch has little work to split, and a second thread mostly waits: waking a sleeping
# OpenMP thread (core sets OMP_WAIT_POLICY=PASSIVE) costs more than it saves. Measured here, the
# demo model at 8 steps, s/image with one and two threads: 64 px 0.20 / 0.54, 128 px 0.45 /
# 0.66, 256 px 1.74 / 1.51 (bench/findings.md).
ONE_THREAD_BELOW_PIXELS = 256 * 256


def default_threads(device: str, pixels: int) -> int:
    """The thread count a request gets when it names none: one for small CPU work, else torch's."""
    if device == "cpu" and pixels < ONE_THREAD_BELOW_PIXELS:
        return 1
    return current_threads()


@contextmanager
def thread_count(threads: int) -> Iterator[None]:
    """Run with exactly `threads` torch threads (results depend on it), then restore."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def cpu_generators(seeds: list[int]) -> list[Any]:
    """One CPU generator per image: the same seed gives the same noise on any device."""
    import torch

    return [torch.Generator("cpu").manual_seed(s) for s in seeds]


def _mps_available() -> bool:
    import torch

    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())
