"""What the app's OpenMP wait policy costs: bare diffusers with `OMP_WAIT_POLICY=PASSIVE` (what
`core` sets unless the user set it) against OpenMP's default (threads spin a while before they
sleep), on demo:sd at 64x64, alone and beside one busy core.

Informational: the overhead cases run both sides with the app's policy, so they cannot show it.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

from bench.common import Case, log, median
from bench.overhead import spec_for
from bench.proc import Proc

POLICIES = {"passive": "PASSIVE", "default": ""}  # empty: as if unset, OpenMP's own default


def _pairs(procs: dict[str, Proc], spec: dict[str, Any], pairs: int, seed: int) -> dict[str, Any]:
    seconds: dict[str, list[float]] = {name: [] for name in procs}
    for i in range(pairs):
        order = list(procs) if i % 2 == 0 else list(reversed(procs))
        for name in order:
            seconds[name].append(procs[name].call("run", spec=spec, seed=seed + i)["seconds"])
    return {name: median(values) for name, values in seconds.items()}


def omp_passive_small(quick: bool) -> Case:
    spec = spec_for("demo:sd", 64, 8)
    pairs = 2 if quick else 12
    procs = {name: Proc("bare", env={"OMP_WAIT_POLICY": value}) for name, value in POLICIES.items()}
    try:
        for proc in procs.values():
            proc.call("run", spec=spec, seed=1)
        log("omp_passive_small: alone")
        alone = _pairs(procs, spec, pairs, 100)
        log("omp_passive_small: beside a busy core")
        hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        try:
            busy = _pairs(procs, spec, max(2, pairs // 2), 200)
        finally:
            hog.kill()
            hog.wait()
    finally:
        for proc in procs.values():
            proc.close()
    ratio = alone["passive"] / alone["default"]
    return Case(
        "omp_passive_small",
        ratio,
        "ratio",
        None,
        alone["default"],
        None,
        note=(
            f"informational: bare diffusers, demo:sd 64x64, 8 steps; s/image with "
            f"OMP_WAIT_POLICY=PASSIVE (the app's) over OpenMP's default, alone (median of {pairs} "
            f"interleaved); beside a busy core: passive {busy['passive']:.3f} s, default "
            f"{busy['default']:.3f} s"
        ),
        details={
            "baseline_unit": "s/image",
            "alone_s": alone,
            "beside_a_busy_core_s": busy,
        },
    )
