"""Memory: peak RSS (`ru_maxrss`) of a worker process that ran jobs, versus the bare script's
process that ran the same images (the baseline). When the overhead case ran in the same
`bench.run`, its two processes are used (they ran the warm-up and the measured images);
otherwise a pair of processes runs a warm-up and one image each.
"""

from __future__ import annotations

from typing import Any

from bench.common import Case, fresh_home
from bench.overhead import spec_for
from bench.proc import Proc

TARGET_SHARE = 1.10  # the app's worker uses at most 10% more memory than the bare script


def measure(spec: dict[str, Any], warm: dict[str, Any]) -> dict[str, Any]:
    with fresh_home("memory") as home, Proc("app", home) as app, Proc("bare") as bare:
        for side in (app, bare):
            side.call("run", spec=warm, seed=1)
            side.call("run", spec=spec, seed=2)
        return {
            "app_peak_mb": app.call("rss")["peak_mb"],
            "bare_peak_mb": bare.call("rss")["peak_mb"],
        }


def rss_case(name: str, label: str, peaks: dict[str, Any]) -> Case:
    value, base = peaks["app_peak_mb"], peaks["bare_peak_mb"]
    return Case(
        name,
        value,
        "MB",
        f"<= {TARGET_SHARE:.2f} x baseline",
        base,
        value <= TARGET_SHARE * base,
        note=f"{label}; peak RSS of the worker process; baseline: the bare script's process",
        details={"baseline_unit": "MB", "source": peaks.get("source", "own processes")},
    )


def rss_demo_mb(quick: bool, peaks: dict[str, Any] | None = None) -> Case:
    if peaks is None:
        spec = spec_for("demo:sd", 64, 8)
        peaks = measure(spec, spec)
    return rss_case("rss_demo_mb", "demo:sd, 64x64", peaks)


def rss_sd15_mb(quick: bool, peaks: dict[str, Any] | None = None) -> Case:
    from bench.sd15 import sd15_path

    size = 128 if quick else 512
    if peaks is None:
        path = str(sd15_path())
        peaks = measure(spec_for(path, size, 1), spec_for(path, 64, 1))
    return rss_case("rss_sd15_mb", f"SD 1.5-sized model (float32), {size}x{size}", peaks)
