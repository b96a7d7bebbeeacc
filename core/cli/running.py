"""What the commands that run queued jobs share (queue run, batch --run, grid): the worker's
events as lines, the first failure kept for the final message, and a clean stop on Ctrl-C."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import TYPE_CHECKING, TextIO

from core.errors import JobFailed

if TYPE_CHECKING:
    from core.engine.runner import StepProgress
    from core.generation import GeneratedOutput
    from core.queue.jobs import Job
    from core.queue.recovery import Recovered
    from core.queue.worker import WorkerEvents
    from core.training.loop import TrainingProgress


class FirstFailure:
    """Keeps the first job failure a worker reports; `raise_if_any` ends the command with it."""

    def __init__(self) -> None:
        self.first: tuple[int, str] | None = None  # job id, message
        self.count = 0

    def __call__(self, job: Job, kind: str, message: str) -> None:
        self.count += 1
        if self.first is None:
            self.first = (job.id, message)

    def raise_if_any(self) -> None:
        if self.first is not None:
            raise JobFailed(*self.first, others=self.count - 1)


def printing_events(
    stream: TextIO | None = None,
    waiting: str | None = None,
    failures: FirstFailure | None = None,
) -> WorkerEvents:
    """Worker events as lines (on stdout unless `stream` says otherwise) and progress bars.

    Going idle prints `waiting` on stderr (when given), and a paused queue always says so: a
    worker that sits silent looks hung. Failures also go to `failures`, when given."""
    from core.cli.progress import ProgressBar, TrainingLine
    from core.queue.worker import WorkerEvents

    bars: dict[int, ProgressBar] = {}
    lines: dict[int, TrainingLine] = {}

    def say(text: str, to: TextIO | None = None) -> None:
        print(text, file=to or stream or sys.stdout, flush=True)

    def started(job: Job) -> None:
        if job.kind == "train":
            lines[job.id] = TrainingLine(f"job {job.id} ({job.task} {job.spec.name}):")
        else:
            bars[job.id] = ProgressBar(f"job {job.id}")

    def training_step(job: Job, event: TrainingProgress) -> None:
        lines[job.id](event)

    def samples(job: Job, output_ids: list[int]) -> None:
        say(f"job {job.id}: samples {', '.join(map(str, output_ids))} in history", sys.stderr)

    def note(job: Job, text: str) -> None:
        say(f"job {job.id}: {text}", sys.stderr)

    def paused(job: Job) -> None:
        say(f"job {job.id}: paused (`atelier queue resume {job.id}` goes on)")

    def step(job: Job, event: StepProgress) -> None:
        bars[job.id](event)

    def done(job: Job, outputs: list[GeneratedOutput]) -> None:
        for o in outputs:
            say(f"job {job.id}: output {o.output_id} -> {o.path}")
        if job.kind == "train":
            say(f"job {job.id}: trained {job.spec.name} ({job.spec.method} on {job.spec.base})")

    def failed(job: Job, kind: str, message: str) -> None:
        say(f"job {job.id}: FAILED ({kind}) {message}")
        if failures is not None:
            failures(job, kind, message)

    def cancelled(job: Job) -> None:
        say(f"job {job.id}: cancelled")

    def recovered(items: list[Recovered]) -> None:
        for item in items:
            say(f"job {item.job_id}: {item.reason}", sys.stderr)

    def idle(paused: bool) -> None:
        if paused:
            say("queue paused: no job starts until `atelier queue resume` (Ctrl-C stops)",
                sys.stderr)  # fmt: skip
        elif waiting is not None:
            say(waiting, sys.stderr)

    return WorkerEvents(
        started,
        step,
        done,
        failed,
        cancelled,
        recovered,
        idle,
        job_paused=paused,
        training_step=training_step,
        samples=samples,
        note=note,
    )


@contextmanager
def stop_on_interrupt(
    stop: threading.Event, on_stop: Callable[[], None] | None = None
) -> Iterator[None]:
    """The first Ctrl-C (or SIGTERM) stops cleanly at the next step; a second one is immediate."""

    def handler(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        print("\nstopping (a running job stops at its next step and stays queued)...",
              file=sys.stderr)  # fmt: skip
        if on_stop is not None:
            on_stop()

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
