"""Pick-up: how long a job added to an idle queue waits before the worker starts it.

The desktop app runs its worker in a process of its own (`WorkerProcess`) that looks for new
jobs every 0.3 s (`Session.start_worker`). Without a nudge, a job the window adds to an idle
queue waits for the next look: on average half the poll, which is as long as a demo image.
The window now says "wake" to the child when it adds jobs (`Session.queue`).

In one run, alternating: the same demo job is added to the idle worker's queue by this (the
window's) process with the nudge and without it, at a random moment of the poll; pick-up is
the time from the job's commit to the child's "started" event. Also the time to the finished
image (the job's "done" event) with the nudge.

gui_reproduce_s: the window's reproduce & verify of one of those images, through the running
worker process (`WorkerProcess.reproduce`, the model already loaded) against the way it was
done before, a process of its own (`atelier reproduce N --json`, as `Session.reproduce` still
does without a worker); alternating, median of 3 each. Both must answer "exact".
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from bench.common import ROOT, Case, bench_env, fresh_home, log, median, percentile

TARGET_MS = 20.0
REPRODUCE_ROUNDS = 3
DESKTOP_POLL_S = 0.3  # Session.start_worker's poll
DESKTOP_HEARTBEAT_S = 0.5


class _Heard:
    def __init__(self) -> None:
        self.started: dict[int, float] = {}
        self.done: dict[int, float] = {}
        self.changed = threading.Condition()

    def note(self, table: dict[int, float], job: Any) -> None:
        with self.changed:
            table[job.id] = time.perf_counter()
            self.changed.notify_all()

    def wait(self, table: dict[int, float], job_id: int, timeout: float = 120.0) -> float:
        with self.changed:
            if not self.changed.wait_for(lambda: job_id in table, timeout):
                raise RuntimeError(f"job {job_id}: no event within {timeout} s")
            return table[job_id]


def _reproduce_alone(home: Path, output_id: int) -> float:
    """`atelier reproduce N --json` in a new process, as the window did it; seconds."""
    command = [sys.executable, "-m", "core.cli.main", "--home", str(home)]
    command += ["reproduce", str(output_id), "--json"]
    started = time.perf_counter()
    done = subprocess.run(
        command, capture_output=True, text=True, env=bench_env(home), cwd=str(ROOT), check=False
    )
    seconds = time.perf_counter() - started
    status = json.loads(done.stdout)[0]["status"] if done.stdout.startswith("[") else done.stderr
    if status != "exact":
        raise RuntimeError(f"atelier reproduce {output_id}: {status}")
    return seconds


def gui_pickup_ms(quick: bool) -> list[Case]:
    from core.library import Library
    from core.queue.worker import WorkerEvents
    from core.queue.worker_process import WorkerProcess
    from core.request import GenerationRequest

    trials = 6 if quick else 20
    request = GenerationRequest(
        task="text2img", model="demo:sd", prompt="a red circle on a blue background", steps=8
    )
    heard = _Heard()
    first_output: list[int] = []

    def on_done(job: Any, outputs: list[Any]) -> None:
        if not first_output:
            first_output.append(outputs[0].output_id)
        heard.note(heard.done, job)

    events = WorkerEvents(job_started=lambda job: heard.note(heard.started, job), job_done=on_done)
    woken: list[float] = []
    polled: list[float] = []
    to_image: list[float] = []
    rng = random.Random(7)
    with fresh_home("pickup") as home:
        library = Library.open(home)
        worker = WorkerProcess(
            library, events, poll_s=DESKTOP_POLL_S, heartbeat_s=DESKTOP_HEARTBEAT_S
        )
        worker.start()
        try:
            [first] = library.queue.submit(request.replace(seed=1))  # loads the model: not measured
            worker.wake()
            heard.wait(heard.done, first.id, timeout=300)
            for trial in range(2 * trials):
                nudge = trial % 2 == 0
                time.sleep(rng.uniform(0.05, 0.05 + DESKTOP_POLL_S))  # any moment of the poll
                [job] = library.queue.submit(request.replace(seed=100 + trial))
                added = time.perf_counter()
                if nudge:
                    worker.wake()
                started = heard.wait(heard.started, job.id)
                done = heard.wait(heard.done, job.id)
                (woken if nudge else polled).append(1000 * (started - added))
                if nudge:
                    to_image.append(done - added)
            log(f"gui_pickup_ms: {trials} pairs")
            in_worker: list[float] = []
            alone: list[float] = []
            for _ in range(REPRODUCE_ROUNDS):
                started = time.perf_counter()
                report = worker.reproduce(first_output[0], timeout=300)
                in_worker.append(time.perf_counter() - started)
                if report.status != "exact":
                    raise RuntimeError(f"reproduce in the worker: {report.to_dict()}")
                alone.append(_reproduce_alone(home, first_output[0]))
            log("gui_reproduce_s: done")
        finally:
            worker.stop(wait=True, timeout=60)
            library.close()
    value = median(woken)
    pickup = Case(
        "gui_pickup_ms",
        value,
        "ms",
        f"< {TARGET_MS}",
        median(polled),
        value < TARGET_MS,
        note=(
            f"a demo:sd job (64x64, 8 steps) added to the desktop's idle worker process, to its "
            f"'started' event, median of {trials}; baseline = the same without the window's "
            f"wake-up (the worker's {DESKTOP_POLL_S} s poll alone)"
        ),
        details={
            "woken_p95_ms": percentile(woken, 95),
            "polled_p95_ms": percentile(polled, 95),
            "added_to_image_s": median(to_image),
        },
    )
    reproduce = Case(
        "gui_reproduce_s",
        median(in_worker),
        "s",
        None,
        median(alone),
        None,
        note=(
            "reproduce & verify of a demo:sd image (64x64, 8 steps) through the running worker "
            "process, median of 3; baseline = `atelier reproduce N --json` in a new process "
            "(the window's way before 2026-12-03); both exact"
        ),
    )
    return [pickup, reproduce]
