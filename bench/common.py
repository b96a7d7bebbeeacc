"""Shared pieces of the benchmarks: paths, the case record, timing and statistics helpers."""

from __future__ import annotations

import math
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
CACHE_DIR = BENCH_DIR / ".cache"
VENV_BIN = Path(sys.executable).parent
PROMPT = "a lighthouse on a cliff at dusk, oil painting, dramatic light"
NEGATIVE = "blurry, low quality"


@dataclass
class Case:
    """One line of the results: a measured value against its target (and its baseline)."""

    name: str
    value: float | None
    unit: str
    target: str | None = None
    baseline: float | None = None
    met: bool | None = None
    note: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "value": _round(self.value),
            "unit": self.unit,
            "target": self.target,
            "baseline": _round(self.baseline),
            "met": self.met,
        }
        if self.note:
            data["note"] = self.note
        if self.details:
            data["details"] = _round(self.details)
        return data


def not_measurable(name: str, unit: str, target: str | None, why: str) -> Case:
    return Case(name, None, unit, target, None, None, f"not measurable yet: {why}")


def _round(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 4 if abs(value) < 10 else 2)
    if isinstance(value, dict):
        return {k: _round(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_round(v) for v in value]
    return value


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def paired_ratio(tested: list[float], bare: list[float]) -> tuple[float, float, float]:
    """The geometric mean of the pairs' ratios (tested[i] / bare[i], each pair run back to back)
    and its 95% interval (normal approximation; the interval is the point with more than one pair).

    On this VM an image's time drifts by 10-15% over seconds, and neighbouring images drift
    together (autocorrelation 0.65 at one image): the ratio of each pair cancels most of the
    drift, which the ratio of the two sides' medians keeps (in six A/A runs of 100 pairs in one
    process that read 0.967-1.030 where this read 0.981-1.012).
    """
    logs = [math.log(t / b) for t, b in zip(tested, bare, strict=True)]
    mean = statistics.mean(logs)
    half = 1.96 * statistics.stdev(logs) / math.sqrt(len(logs)) if len(logs) > 1 else 0.0
    return math.exp(mean), math.exp(mean - half), math.exp(mean + half)


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation between the closest ranks."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    pos = (len(ordered) - 1) * q / 100.0
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def bench_env(home: Path | None = None) -> dict[str, str]:
    """The environment for a benchmark subprocess: isolated home, settings and demo models."""
    from core.engine.malloc import tuned_env

    env = tuned_env(os.environ)  # both sides start as the app's engine processes do
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    env["ATELIER_DEMO_DIR"] = str(CACHE_DIR / "demo-models")
    env["ATELIER_SETTINGS"] = str(CACHE_DIR / "settings.ini")
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    if home is not None:
        env["ATELIER_HOME"] = str(home)
    return env


def use_bench_env() -> None:
    """Point this process at the benchmark's demo-model folder (before core is used)."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ["ATELIER_DEMO_DIR"] = str(CACHE_DIR / "demo-models")
    os.environ["ATELIER_SETTINGS"] = str(CACHE_DIR / "settings.ini")


@contextmanager
def fresh_home(prefix: str) -> Iterator[Path]:
    """A new library home under the cache folder, removed afterwards.

    The library file is created here, as the app's first start does once: the processes measured
    then open an existing library, as a worker or a window usually does (creating one runs the
    migrations, which import Alembic: about 10 MB and 0.1-0.3 s more, once).
    """
    import shutil
    import tempfile

    from core.library import Library

    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=f"{prefix}-", dir=CACHE_DIR))
    try:
        Library.open(path).close()
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
