"""Run the benchmarks: `python -m bench.run [--quick] [--only NAME,...]`.

Writes `bench/results.json` and `docs/benchmarks.md`. With `--only`, the cases not re-run keep
their previous results in both files.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.common import Case, log, use_bench_env


@dataclass(frozen=True)
class Group:
    """Benchmarks measured together: the case names they produce and how to run them."""

    names: tuple[str, ...]
    run: Callable[[bool, dict[str, Any]], list[Case]]


def _overhead_small(quick: bool, shared: dict[str, Any]) -> list[Case]:
    from bench.overhead import overhead_small

    case, shared["demo_peaks"] = overhead_small(quick)
    return [case]


def _overhead_aa(quick: bool, shared: dict[str, Any]) -> list[Case]:
    from bench.overhead import overhead_small_aa

    return [overhead_small_aa(quick)]


def _omp(quick: bool, shared: dict[str, Any]) -> list[Case]:
    from bench.omp_wait import omp_passive_small

    return [omp_passive_small(quick)]


def _malloc(quick: bool, shared: dict[str, Any]) -> list[Case]:
    from bench.malloc_hugetlb import malloc_hugetlb_sd15

    return [malloc_hugetlb_sd15(quick)]


def _overhead_sd15(quick: bool, shared: dict[str, Any]) -> list[Case]:
    from bench.overhead import overhead_sd15

    case, shared["sd15_peaks"] = overhead_sd15(quick)
    return [case]


def _switch(quick: bool, shared: dict[str, Any]) -> list[Case]:
    from bench.switching import switching

    return switching(quick)


def _queue(quick: bool, shared: dict[str, Any]) -> list[Case]:
    from bench.queue_throughput import queue_throughput

    return queue_throughput(quick)


def _history(quick: bool, shared: dict[str, Any]) -> list[Case]:
    from bench.history_scale import history_scale

    return history_scale(quick)


def _gui_stall(quick: bool, shared: dict[str, Any]) -> list[Case]:
    from bench.gui import gui_stall_ms

    return [gui_stall_ms(quick)]


def _gui_pickup(quick: bool, shared: dict[str, Any]) -> list[Case]:
    from bench.pickup import gui_pickup_ms

    return gui_pickup_ms(quick)


def _gui_start(quick: bool, shared: dict[str, Any]) -> list[Case]:
    from bench.gui import gui_start_s

    return [gui_start_s(quick)]


def _help(quick: bool, shared: dict[str, Any]) -> list[Case]:
    from bench.gui import help_s

    return [help_s(quick)]


def _rss_demo(quick: bool, shared: dict[str, Any]) -> list[Case]:
    from bench.memory import rss_demo_mb

    return [rss_demo_mb(quick, shared.get("demo_peaks"))]


def _rss_sd15(quick: bool, shared: dict[str, Any]) -> list[Case]:
    from bench.memory import rss_sd15_mb

    return [rss_sd15_mb(quick, shared.get("sd15_peaks"))]


def _cluster(quick: bool, shared: dict[str, Any]) -> list[Case]:
    from bench.cluster import cluster_cases

    return cluster_cases(quick)


# In running order: quick and quiet ones first; each memory case reuses its overhead processes.
GROUPS = (
    Group(("help_s",), _help),
    Group(("gui_start_s",), _gui_start),
    Group(("history_p95_ms", "history_p50_ms"), _history),
    Group(("overhead_small",), _overhead_small),
    Group(("overhead_small_aa",), _overhead_aa),
    Group(("rss_demo_mb",), _rss_demo),
    Group(("queue_throughput", "queue_fixed_ms"), _queue),
    Group(("switch", "switch_second_model", "switch_memory_mb"), _switch),
    Group(("gui_stall_ms",), _gui_stall),
    Group(("gui_pickup_ms", "gui_reproduce_s"), _gui_pickup),
    Group(("omp_passive_small",), _omp),
    Group(("malloc_hugetlb_sd15",), _malloc),
    Group(("overhead_sd15",), _overhead_sd15),
    Group(("rss_sd15_mb",), _rss_sd15),
    Group(("cluster_jobs_per_s", "cluster_ray_ms", "cluster_head_images_per_s"), _cluster),
)
ALL_NAMES = tuple(name for group in GROUPS for name in group.names)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny counts (checks the harness)")
    parser.add_argument(
        "--only", default="", help=f"comma-separated case names, among: {', '.join(ALL_NAMES)}"
    )
    args = parser.parse_args(argv)
    wanted = {n.strip() for n in args.only.split(",") if n.strip()}
    unknown = wanted - set(ALL_NAMES)
    if unknown:
        parser.error(f"unknown case(s): {', '.join(sorted(unknown))}")
    use_bench_env()
    from bench import report

    started = time.perf_counter()
    shared: dict[str, Any] = {}
    cases: list[Case] = []
    for group in GROUPS:
        if wanted and not wanted & set(group.names):
            continue
        group_started = time.perf_counter()
        try:
            cases += group.run(args.quick, shared)
        except Exception as exc:  # one broken case must not lose the others' results
            traceback.print_exc()
            cases += [
                Case(name, None, "", None, None, False, note=f"failed: {type(exc).__name__}: {exc}")
                for name in group.names
            ]
        log(f"{'/'.join(group.names)}: {time.perf_counter() - group_started:.1f} s")
    elapsed = time.perf_counter() - started
    command = "python -m bench.run" + (" --quick" if args.quick else "")
    command += f" --only {args.only}" if wanted else ""
    report.write(cases, command, args.quick, elapsed, partial=bool(wanted))
    log(f"done in {elapsed:.0f} s: bench/results.json, docs/benchmarks.md")
    for case in cases:
        status = {True: "ok", False: "MISSED", None: "n/a"}[case.met]
        print(f"{case.name:22} {case.value!s:>12} {case.unit:10} {status}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
