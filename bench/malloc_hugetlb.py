"""What the app's malloc tuning gains: bare diffusers with `glibc.malloc.hugetlb=1` (what the
processes that run Atelier's engine start with, `core.engine.malloc`) against glibc's default,
on the SD 1.5-sized model at 256x256, one step.

Informational: the overhead cases run both sides with the app's tuning, so they cannot show it.
"""

from __future__ import annotations

from bench.common import Case, log, median, paired_ratio
from bench.overhead import spec_for
from bench.proc import Proc

PLAIN = {"GLIBC_TUNABLES": "", "ATELIER_MALLOC": "default"}  # glibc's own defaults


def malloc_hugetlb_sd15(quick: bool) -> Case:
    from bench.sd15 import sd15_path

    size, pairs = (128, 2) if quick else (256, 6)
    spec = {**spec_for(str(sd15_path()), size, 1), "threads": 2}
    procs = {"plain": Proc("bare", env=PLAIN, wait=False), "tuned": Proc("bare", wait=False)}
    seconds: dict[str, list[float]] = {name: [] for name in procs}
    try:
        for proc in procs.values():
            proc.ready().call("run", spec=spec, seed=1)  # load and warm up
        for i in range(pairs):
            order = list(procs) if i % 2 == 0 else list(reversed(procs))
            for name in order:
                seconds[name].append(procs[name].call("run", spec=spec, seed=100 + i)["seconds"])
            log(f"malloc_hugetlb_sd15: pair {i + 1}/{pairs}: plain {seconds['plain'][-1]:.2f} s, "
                f"tuned {seconds['tuned'][-1]:.2f} s")  # fmt: skip
        peaks = {name: proc.call("rss")["peak_mb"] for name, proc in procs.items()}
    finally:
        for proc in procs.values():
            proc.close()
    ratio, low, high = paired_ratio(seconds["tuned"], seconds["plain"])
    return Case(
        "malloc_hugetlb_sd15",
        ratio,
        "ratio",
        None,
        median(seconds["plain"]),
        None,
        note=(
            f"informational: bare diffusers, SD 1.5-sized model {size}x{size}, 1 step, 2 threads; "
            f"s/image with glibc.malloc.hugetlb=1 (the app's) over glibc's default, geometric "
            f"mean of {pairs} interleaved pairs (95% interval {low:.3f}-{high:.3f}); peak RSS "
            f"{peaks['tuned']:.0f} against {peaks['plain']:.0f} MB"
        ),
        details={
            "baseline_unit": "s/image",
            "ratio_ci95": [low, high],
            "plain_s": seconds["plain"],
            "tuned_s": seconds["tuned"],
            "peak_rss_mb": peaks,
        },
    )
