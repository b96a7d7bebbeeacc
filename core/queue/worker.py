"""The worker: takes jobs from the queue one at a time and runs them on one device.

A generation job runs its request through the `Generator`; a training job runs its spec through
`core.training.run.train`, which checkpoints as it goes: cancelled, paused or stopped, it keeps
its last checkpoint and a later run of the job goes on from there.

It is a plain thread of the core (no Qt). It reports through `WorkerEvents` callbacks, called in
the worker thread; the GUI's bridge turns them into signals. A heartbeat thread keeps the running
job marked alive and notices a cancel asked for from any process; the job then stops at its next
step and nothing is written for it. A job's outputs and its `done` state commit together.
"""

from __future__ import annotations

import secrets
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.engine.runner import StepProgress
from core.errors import AtelierError, Cancelled
from core.generation import GeneratedOutput, Generator
from core.queue.jobs import Job, JobRepository
from core.queue.recovery import Recovered, recover_and_clean, worker_name

if TYPE_CHECKING:
    from core.library import Library
    from core.training.loop import TrainingProgress

RECOVER_EVERY_S = 30.0


@dataclass
class WorkerEvents:
    """Optional callbacks, each called in the worker thread."""

    job_started: Callable[[Job], None] | None = None
    step: Callable[[Job, StepProgress], None] | None = None
    job_done: Callable[[Job, list[GeneratedOutput]], None] | None = None
    job_failed: Callable[[Job, str, str], None] | None = None
    job_cancelled: Callable[[Job], None] | None = None
    recovered: Callable[[list[Recovered]], None] | None = None
    # The worker found nothing to run and waits: called once as it goes idle and again when the
    # queue's pause flag changes while it waits (the argument: whether the queue is paused).
    idle: Callable[[bool], None] | None = None
    job_paused: Callable[[Job], None] | None = None
    # a training job's step (loss, rate, ETA), the sample images it just drew (output ids),
    # and what it says on the way (a warning, class images being made)
    training_step: Callable[[Job, TrainingProgress], None] | None = None
    samples: Callable[[Job, list[int]], None] | None = None
    note: Callable[[Job, str], None] | None = None
    # who runs the queue's jobs, called when that changes: a cluster head's actors (each node,
    # device and the job it runs), or a local worker as one worker of this machine
    workers: Callable[[list[WorkerStatus]], None] | None = None


@dataclass(frozen=True)
class WorkerStatus:
    """One worker as the window shows it: where it runs, on what, and which job (None: idle)."""

    node: str  # the machine's name (and, on a cluster, its Ray node id, shortened)
    device: str  # "cuda", "cpu", ...
    job_id: int | None = None


@dataclass
class WorkerStats:
    done: int = 0
    failed: int = 0
    cancelled: int = 0
    paused: int = 0
    outputs: int = 0
    job_ids: list[int] = field(default_factory=list)


class Worker:
    def __init__(
        self,
        library: Library,
        generator: Generator | None = None,
        events: WorkerEvents | None = None,
        *,
        poll_s: float = 0.5,
        heartbeat_s: float = 2.0,
    ) -> None:
        self.library = library
        self.jobs = library.jobs
        self.generator = generator or Generator(library)
        self.events = events or WorkerEvents()
        self.name = worker_name(secrets.token_hex(3))
        self.poll_s = poll_s
        self.heartbeat_s = heartbeat_s
        self._stop = threading.Event()
        self._cancel = threading.Event()
        self._nudge = threading.Event()  # ends an idle wait early: set by `wake` and `stop`
        self._calls: deque[Callable[[], None]] = deque()  # `call_soon`, run between jobs
        self._thread: threading.Thread | None = None
        self._beat: _Heartbeat | None = None  # one heartbeat thread while `run` runs

    # ---- running -----------------------------------------------------------------------
    def run(self, until_empty: bool = False, limit: int | None = None) -> WorkerStats:
        """Run jobs until stopped (or, with `until_empty`, until none is left to run; with
        `limit`, after that many jobs)."""
        stats = WorkerStats()
        last_recovery = time.monotonic()
        told: bool | None = None  # the pause flag last reported idle; None while working
        with self.serving():
            while not self._stop.is_set() and (limit is None or len(stats.job_ids) < limit):
                self._run_calls()
                if self.run_one(stats):
                    told = None
                else:
                    if until_empty and not self.jobs.running_count():
                        break
                    told = self._tell_idle(told)
                    if time.monotonic() - last_recovery > RECOVER_EVERY_S:
                        self.recover()
                        last_recovery = time.monotonic()
                    self._nudge.wait(self.poll_s)
                    self._nudge.clear()  # before the next claim, so no wake is lost
        return stats

    @contextmanager
    def serving(self) -> Iterator[None]:
        """What `run` holds while it runs: a recovery pass first, and one heartbeat thread that
        every `run_one` inside uses (without it, each `run_one` starts and joins its own)."""
        self.recover()
        self._beat = _Heartbeat(self.jobs, self.name, self._cancel, self.heartbeat_s)
        self._beat.start()
        try:
            yield
        finally:
            self._beat.stop()
            self._beat = None

    def start(self, until_empty: bool = False) -> threading.Thread:
        """Run in a background thread (tests; a caller whose main thread has other work).

        On a CPU, prefer `run` in the main thread, as `atelier queue run`, `atelier batch --run`
        and the window's worker process do: glibc gives other threads malloc arenas whose heaps
        are at most 64 MB, so torch's large buffers come from fresh mmaps at every step there
        (a 256x256 SD 1.5-sized image took about 19% longer in a thread, with 8x the page
        faults).
        """
        self._thread = threading.Thread(
            target=self.run, args=(until_empty,), name=f"atelier-worker-{self.name}", daemon=True
        )
        self._thread.start()
        return self._thread

    def wake(self) -> None:
        """A job was just added: an idle worker claims it now instead of at its next poll.

        Polling alone left a new job waiting up to `poll_s` (0.3 s in the desktop app, longer
        than a demo image takes). Jobs added by other processes are still found by the poll.
        """
        self._nudge.set()

    def call_soon(self, call: Callable[[], None]) -> None:
        """Run `call` in the worker's thread before its next job (now, when it is idle).

        The engine and its loaded models belong to the worker's thread; the desktop's reproduce
        & verify runs here so it uses the model already loaded instead of loading a second copy
        in another process. A call that raises is printed and the worker goes on.
        """
        self._calls.append(call)
        self._nudge.set()

    @property
    def cancel_event(self) -> threading.Event:
        """Set when the worker is asked to stop: a `call_soon` call that runs the engine passes
        it as `cancel`, so stopping ends it at its next step."""
        return self._cancel

    def _run_calls(self) -> None:
        while self._calls and not self._stop.is_set():
            call = self._calls.popleft()
            self._cancel.clear()  # a job cancelled before must not cancel this call
            if self._stop.is_set():  # unless a stop came in meanwhile
                self._cancel.set()
            try:
                call()
            except Exception:  # a caller's bug must not stop the queue
                traceback.print_exc(file=sys.stderr)

    def stop(self, wait: bool = True, timeout: float | None = None) -> None:
        """Stop after the current step; the running job goes back to the queue."""
        self._stop.set()
        self._cancel.set()
        self._nudge.set()
        if wait and self._thread is not None:
            self._thread.join(timeout)

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def recover(self) -> list[Recovered]:
        recovered = recover_and_clean(self.jobs)
        if recovered and self.events.recovered:
            self.events.recovered(recovered)
        return recovered

    def run_one(self, stats: WorkerStats | None = None) -> bool:
        """Claim and run one job; False when there was none to run."""
        stats = stats if stats is not None else WorkerStats()
        job = self.jobs.claim_next(self.name)
        if job is None:
            return False
        stats.job_ids.append(job.id)
        self._cancel.clear()
        if self._stop.is_set():
            self._cancel.set()
        beat = self._beat
        if beat is None:  # called on its own, not from `run`: a heartbeat for this job only
            beat = _Heartbeat(self.jobs, self.name, self._cancel, self.heartbeat_s)
            beat.start()
        beat.watch(job.id)
        try:
            self._emit(self.events.job_started, job)
            if job.kind == "train":
                outputs = self._train(job, beat)
            else:
                outputs = self.generator.generate(
                    job.request,
                    project=job.project,
                    out_dir=Path(job.out_dir) if job.out_dir else None,
                    job_id=job.id,
                    on_step=self._step_reporter(job),
                    cancel=self._cancel,
                    stem=job.stem,
                )
        except Cancelled:
            if self._stop.is_set():
                self.jobs.release(job.id)
            elif self.jobs.pause_requested(job.id):
                self.jobs.release(job.id, "paused")
                stats.paused += 1
                self._emit(self.events.job_paused, job)
            else:
                self.jobs.finish(job.id, "cancelled", "Cancelled", "cancelled while running")
                stats.cancelled += 1
                self._emit(self.events.job_cancelled, job)
        except KeyboardInterrupt:
            self.jobs.release(job.id)
            raise
        except Exception as exc:  # any failure ends this job only; the queue goes on
            kind = type(exc).__name__
            message = str(exc) or repr(exc)
            if not isinstance(exc, AtelierError):
                traceback.print_exc(file=sys.stderr)
                message = f"unexpected {kind}: {message}"
            self.jobs.finish(job.id, "failed", kind, message)
            stats.failed += 1
            self._emit(self.events.job_failed, job, kind, message)
        else:
            stats.done += 1
            stats.outputs += len(outputs)
            self._emit(self.events.job_done, job, outputs)
        finally:
            beat.watch(None)
            if beat is not self._beat:
                beat.stop()
        return True

    def _train(self, job: Job, beat: _Heartbeat) -> list[GeneratedOutput]:
        """Run a training job; its variant and run record commit with its done state."""
        from core.training.run import train

        def progress(event: TrainingProgress) -> None:
            beat.progress = event.to_dict()
            self._emit(self.events.training_step, job, event)

        def samples(drawn: list[Any]) -> None:
            self._emit(self.events.samples, job, [s.output_id for s in drawn])

        def note(text: str) -> None:
            self._emit(self.events.note, job, text)

        train(
            job.spec,
            self.library,
            progress,
            self._cancel.is_set,
            on_note=note,
            on_sample=samples,
            job_id=job.id,
            project=job.project,
            generator=self.generator,
        )
        return []

    def _tell_idle(self, told: bool | None) -> bool | None:
        """Report going idle, or a change of the pause flag while idle (one small read a poll,
        only when someone listens)."""
        if self.events.idle is None:
            return told
        paused = self.jobs.is_paused()
        if paused != told:
            self.events.idle(paused)
        return paused

    def _step_reporter(self, job: Job) -> Callable[[StepProgress], None] | None:
        """None when nobody listens, so the engine makes no previews."""
        step = self.events.step
        if step is None:
            return None
        return lambda event: step(job, event)

    @staticmethod
    def _emit(callback: Callable[..., None] | None, *args: object) -> None:
        if callback is not None:
            callback(*args)


class _Heartbeat:
    """Marks the watched job alive every few seconds and turns a cancel request into the
    cancel event. One thread serves a worker's jobs one after another (a thread per job cost
    a few milliseconds a job to start)."""

    def __init__(
        self, jobs: JobRepository, worker: str, cancel: threading.Event, every_s: float
    ) -> None:
        self.jobs, self.worker, self.cancel, self.every_s = jobs, worker, cancel, every_s
        self._job_id: int | None = None
        self.progress: dict[str, Any] | None = None  # the watched job's last, kept at each beat
        self._lock = threading.Lock()  # a beat and a change of job never overlap
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{worker}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._done.set()
        self._thread.join()

    def watch(self, job_id: int | None) -> None:
        with self._lock:
            self._job_id = job_id
            self.progress = None

    def _run(self) -> None:
        while not self._done.wait(self.every_s):
            with self._lock:
                if self._job_id is None:
                    continue
                try:
                    if self.jobs.heartbeat(self._job_id, self.worker, self.progress):
                        self.cancel.set()  # a cancel or a pause: the job stops at its next step
                except Exception:  # a busy database must not kill the job; try again next beat
                    traceback.print_exc(file=sys.stderr)
