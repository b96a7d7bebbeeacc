"""Queue throughput: many queued jobs on the demo model, images per second versus a bare loop.

In each of 5 pairs of processes (started anew, as overhead_small's are: a process keeps its
speed for its life), 40 jobs are queued at once (one transaction), then the worker drains them
in rounds of 8 that alternate with rounds of the bare diffusers loop over the same seeds. The
fixed cost per job is what a job costs beyond the engine's own time (claim, progress, PNG +
record, store write, the run's transaction): per job, wall time minus the engine's `total_s`
from the run's recorded timings; median.
"""

from __future__ import annotations

from bench.common import Case, fresh_home, log, median
from bench.overhead import spec_for
from bench.proc import Proc

TARGET_SHARE = 0.97  # the app keeps >= 97% of the bare loop's images per second (1/1.03)
TARGET_FIXED_MS = 20.0
PROCESSES = 5  # pairs of processes, 40 jobs each: a process keeps its speed for its life


def queue_throughput(quick: bool) -> list[Case]:
    jobs = 20 if quick else 200
    processes = 1 if quick else PROCESSES  # pairs of processes, started anew
    rounds = 2 if quick else 5  # per pair of processes; short, so slow spells fall on both sides
    steps = 4
    spec = spec_for("demo:sd", 64, steps)
    per_process = jobs // processes
    per_round = per_process // rounds
    app_s: list[float] = []
    engine_s: list[float] = []
    bare_s: list[float] = []
    shares: list[float] = []  # one per pair of processes
    queued_s = 0.0
    threads = None
    with fresh_home("queue") as home:
        for process in range(processes):
            with Proc("app", home, wait=False) as app, Proc("bare", wait=False) as bare:
                app.ready(), bare.ready()  # started together: the start is not measured
                # Warm-up: model loaded, first-call costs paid; the bare loop uses the app's
                # thread count.
                threads = app.call("run", spec=spec, seed=1)["threads"]
                bare_spec = {**spec, "threads": threads}
                bare.call("run", spec=bare_spec, seed=1)
                first = 2000 + process * per_process
                queued = app.call("queue", spec=spec, seeds=list(range(first, first + per_process)))
                queued_s += queued["seconds"]
                mine: tuple[list[float], list[float]] = ([], [])
                for r in range(rounds):
                    seeds = list(range(first + r * per_round, first + (r + 1) * per_round))
                    drained = app.call("drain", count=per_round)
                    mine[0].extend(drained["seconds"])
                    engine_s += drained["engine_s"]
                    mine[1].extend(bare.call("loop", spec=bare_spec, seeds=seeds)["seconds"])
                    log(f"queue_throughput: processes {process + 1}/{processes}, "
                        f"round {r + 1}/{rounds}")  # fmt: skip
                shares.append(sum(mine[1]) / sum(mine[0]))
                app_s += mine[0]
                bare_s += mine[1]
    app_ips = len(app_s) / sum(app_s)
    bare_ips = len(bare_s) / sum(bare_s)
    fixed_ms = [1000 * (w - e) for w, e in zip(app_s, engine_s, strict=True)]
    note = (
        f"{jobs} jobs, demo:sd 64x64, {steps} steps, {threads} thread(s); "
        f"{processes} pairs of processes, {rounds} alternating rounds each"
    )
    throughput = Case(
        "queue_throughput",
        app_ips,
        "images/s",
        f">= {TARGET_SHARE} x baseline",
        bare_ips,
        app_ips >= TARGET_SHARE * bare_ips,
        note=note + "; baseline = bare diffusers loop, images/s",
        details={
            "baseline_unit": "images/s",
            "share_of_bare": app_ips / bare_ips,
            "app_median_job_ms": 1000 * median(app_s),
            "bare_median_image_ms": 1000 * median(bare_s),
            "share_per_process_pair": shares,
            "queue_add_ms_per_job": 1000 * queued_s / jobs,
        },
    )
    fixed = Case(
        "queue_fixed_ms",
        median(fixed_ms),
        "ms/job",
        f"<= {TARGET_FIXED_MS:g}",
        None,
        median(fixed_ms) <= TARGET_FIXED_MS,
        note="per job: wall time minus the engine's own time (claim, record, write); median",
        details={
            "p95_ms": sorted(fixed_ms)[int(0.95 * (len(fixed_ms) - 1))],
            "wall_minus_bare_ms": 1000 * (median(app_s) - median(bare_s)),
        },
    )
    return [throughput, fixed]
