"""Checkpoints of a training run: the trained weights, the optimizer, the learning-rate schedule
and every random state, written atomically so a crash or a full disk never leaves a half file.

A checkpoint is one file `step-NNNNNNNN.pt` in the run's folder, written to a temporary name,
flushed to disk and renamed into place; the newest complete one is where a run resumes. Only
the last two are kept.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import AtelierError

KEEP = 2
_PREFIX = "step-"


class CheckpointError(AtelierError):
    """A checkpoint could not be written or read (the message says which and why)."""


def capture_rng(generator: Any, data_rng: np.random.Generator) -> dict[str, Any]:
    """Every random state a step can read: torch's global CPU (and CUDA) states, the run's own
    torch generator, Python's `random`, numpy's global state and the run's numpy generator."""
    import torch

    np_state = np.random.get_state(legacy=False)
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "generator": generator.get_state(),
        "python": random.getstate(),
        "numpy": {**np_state, "state": {k: _plain(v) for k, v in np_state["state"].items()}},
        "data": data_rng.bit_generator.state,
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any], generator: Any, data_rng: np.random.Generator) -> None:
    import torch

    torch.set_rng_state(state["torch"])
    generator.set_state(state["generator"])
    random.setstate(_tuples(state["python"]))
    np_state = dict(state["numpy"])
    np_state["state"] = {
        k: np.asarray(v, dtype=np.uint32) if k == "key" else v for k, v in np_state["state"].items()
    }
    np.random.set_state(np_state)
    data_rng.bit_generator.state = state["data"]
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(folder: Path, step: int, state: dict[str, Any]) -> Path:
    """Write `state` as the checkpoint of `step`; the previous good one stays until this one is
    complete. Raises CheckpointError (disk full, no permission) with the path."""
    import torch

    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"{_PREFIX}{step:08d}.pt"
    temporary = folder / f".{final.name}.{os.getpid()}.tmp"
    try:
        with temporary.open("wb") as handle:
            torch.save({"step": step, **state}, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, final)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        kept = latest_checkpoint(folder)
        where = f"the last good one, {kept.name}, is kept" if kept else "no earlier one exists"
        raise CheckpointError(
            f"{final}: cannot write the checkpoint of step {step} ({exc.strerror or exc}); {where}"
        ) from exc
    for old in _checkpoints(folder)[:-KEEP]:
        old.unlink(missing_ok=True)
    return final


def latest_checkpoint(folder: Path) -> Path | None:
    found = _checkpoints(folder)
    return found[-1] if found else None


def load_checkpoint(path: Path) -> dict[str, Any]:
    import torch

    try:
        loaded: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"{path}: cannot read this checkpoint ({exc})") from exc
    return loaded


def _checkpoints(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob(f"{_PREFIX}*.pt") if p.name[len(_PREFIX) : -3].isdigit())


def _plain(value: Any) -> Any:
    return value.tolist() if isinstance(value, np.ndarray) else value


def _tuples(value: Any) -> Any:
    """Python's random state comes back from a checkpoint with lists where it had tuples."""
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    return value
