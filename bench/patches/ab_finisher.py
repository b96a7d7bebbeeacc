"""A/B of `worker-finisher.patch` in one process: the worker with its finisher thread (A)
against everything in the worker thread (B), in alternating rounds (AB, BA, ...).

    git apply bench/patches/worker-finisher.patch
    .venv/bin/python -m bench.patches.ab_finisher SIZE STEPS ROUNDS JOBS [MODEL]

Prints ms a job per round, the medians and the mean A - B difference. Needs the patch applied
(B is the patch's worker with its `_later` made synchronous).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.overhead import spec_for


def main(argv: list[str]) -> None:
    from core.engine.runner import Engine
    from core.generation import Generator
    from core.library import Library
    from core.queue.jobs import JobRepository, NewJob
    from core.queue.worker import Worker
    from core.request import GenerationRequest

    size, steps, rounds, n = (int(a) for a in argv[:4])
    model = argv[4] if len(argv) > 4 else "demo:sd"
    library = Library.open(Path(tempfile.mkdtemp()))
    generator = Generator(library, Engine())
    jobs = JobRepository(library.db.session_factory)
    spec = spec_for(model, size, steps)
    out = Path(tempfile.mkdtemp())
    with_finisher = Worker._later  # type: ignore[attr-defined]

    def synchronous(self: Any, call: Any, *args: Any, held: bool = False) -> None:
        call(*args)

    seed = 0

    def one_round(variant: str) -> float:
        nonlocal seed
        Worker._later = with_finisher if variant == "A" else synchronous  # type: ignore[attr-defined]
        worker = Worker(library, generator, poll_s=0.05)
        requests = [GenerationRequest("text2img", seed=seed + i, **spec) for i in range(n)]
        jobs.add_many([NewJob(r, project="ab", out_dir=str(out)) for r in requests])
        seed += n
        started = time.perf_counter()
        stats = worker.run(until_empty=True)
        assert stats.done == n, stats
        return (time.perf_counter() - started) / n

    one_round("A"), one_round("B")  # warm-up
    times: dict[str, list[float]] = {"A": [], "B": []}
    diffs = []
    for r in range(rounds):
        got = {v: one_round(v) for v in ("AB" if r % 2 == 0 else "BA")}
        for v in "AB":
            times[v].append(got[v])
        diffs.append(got["A"] - got["B"])
        print(r, {k: round(v * 1000, 1) for k, v in got.items()}, flush=True)
    for v in "AB":
        print(f"{v} median {1000 * statistics.median(times[v]):.1f} ms a job")
    mean, sd = statistics.mean(diffs), statistics.stdev(diffs)
    print(f"A - B: mean {1000 * mean:.1f} ms, sd {1000 * sd:.1f}, n {len(diffs)}")


if __name__ == "__main__":
    main(sys.argv[1:])
