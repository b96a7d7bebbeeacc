"""The window's side of the worker process: start it, tell it things, hear its events.

Events arrive in a reader thread and go to the `WorkerEvents` callbacks with the job they carry:
the parent never reads the database for them. A line it cannot read is reported on stderr and
skipped; the child keeps running.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from core.engine.runner import StepProgress
from core.queue.process import protocol
from core.queue.worker import WorkerEvents

if TYPE_CHECKING:
    from core.library import Library
    from core.queue.jobs import Job
    from core.reproduce import ReproduceReport

RESTART_LIMIT = 3
CHILD_MODULE = "core.queue.process.child"


class _Reply:
    """What one `Reproduce` is waiting for."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.report: dict[str, Any] | None = None
        self.error: str | None = None


class WorkerProcess:
    """Start, stop and listen to a worker process; `events` are called in a reader thread.

    It has the thread worker's `start`, `stop` and `stopping`, so the GUI's session can hold
    either. `exited` (optional) hears of a child that ended on its own: its exit code and
    whether another one was started; `problem` (optional) what the child says about itself
    (a cluster it could not reach). With `ray` (an address, "auto" or "local") the child runs
    a `ClusterHead` on that Ray cluster instead of a local `Worker`.
    """

    def __init__(
        self,
        library: Library,
        events: WorkerEvents | None = None,
        *,
        poll_s: float = 0.5,
        heartbeat_s: float = 2.0,
        exited: Callable[[int, bool], None] | None = None,
        problem: Callable[[str], None] | None = None,
        ray: str | None = None,
    ) -> None:
        self.library = library
        self.events = events or WorkerEvents()
        self.exited, self.problem = exited, problem
        self.ray = ray
        self.poll_s = poll_s
        self.heartbeat_s = heartbeat_s
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._popen: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None
        self._write_lock = threading.Lock()  # lines to the child come from several threads
        self._waiting: dict[str, _Reply] = {}  # reproduce requests by token
        self._running: dict[int, Job] = {}  # started, not ended (a cluster runs several)
        self.deaths = 0  # deaths in a row without a finished job

    @property
    def pid(self) -> int | None:
        return self._popen.pid if self._popen is not None else None

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    @property
    def running(self) -> bool:
        """A child is alive to hear lines (False after it died too often, or once stopping)."""
        with self._lock:
            popen = self._popen
        return popen is not None and popen.poll() is None and not self._stop.is_set()

    def start(self) -> None:
        with self._lock:
            self._spawn()
        self._reader = threading.Thread(
            target=self._read_all, name="atelier-worker-process", daemon=True
        )
        self._reader.start()

    def stop(self, wait: bool = True, timeout: float | None = None) -> None:
        """Ask the child to stop after its current step; kill it after `timeout` seconds."""
        self._stop.set()
        with self._lock:
            popen = self._popen
        if popen is None:
            return
        with self._write_lock:
            _say_stop(popen)
        if not wait:
            return
        try:
            popen.wait(timeout)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait()
        if self._reader is not None:
            self._reader.join(timeout)

    def wake(self) -> None:
        """Tell an idle child that a job was just added (see `Worker.wake`)."""
        self._tell(protocol.Wake())  # a child that is gone: its replacement looks first

    def reproduce(self, output_id: int, timeout: float | None = None) -> ReproduceReport:
        """Reproduce & verify `output_id` in the child, with the models it has loaded, before
        its next job (blocking: call it off the GUI thread). RuntimeError when it cannot
        answer: an unknown output, or a child that ended first."""
        from core.reproduce import ReproduceReport

        token = secrets.token_hex(4)
        reply = _Reply()
        self._waiting[token] = reply
        try:
            if not self._tell(protocol.Reproduce(token, int(output_id))):
                raise RuntimeError("the worker process is not running")
            if not reply.done.wait(timeout):
                raise RuntimeError(f"the worker process did not answer within {timeout} s")
        finally:
            self._waiting.pop(token, None)
        if reply.error is not None or reply.report is None:
            raise RuntimeError(reply.error or "the worker process sent no report")
        return ReproduceReport.from_dict(reply.report)

    def _tell(self, message: protocol.ToChild) -> bool:
        """Send one message to the child; False when there is none to hear it."""
        with self._lock:
            popen = self._popen
        if popen is None or self._stop.is_set():
            return False
        try:
            with self._write_lock:
                assert popen.stdin is not None
                popen.stdin.write(protocol.encode(message) + "\n")
                popen.stdin.flush()
        except (OSError, ValueError):
            return False
        return True

    def _answer_all(self, error: str) -> None:
        """The child ended: no reproduce it was asked for will be answered."""
        for token in list(self._waiting):
            reply = self._waiting.pop(token, None)
            if reply is not None:
                reply.error = error
                reply.done.set()

    # ---- the child -------------------------------------------------------------------------
    def _command(self) -> list[str]:
        home, poll, beat = str(self.library.home), str(self.poll_s), str(self.heartbeat_s)
        command = [sys.executable, "-m", CHILD_MODULE, home, "--poll", poll, "--heartbeat", beat]
        if self.ray is not None:
            command += ["--ray", self.ray]
        return command if self.events.step is not None else [*command, "--no-steps"]

    def _spawn(self) -> None:
        from core.engine.malloc import tuned_env

        self._popen = subprocess.Popen(
            self._command(),
            env=tuned_env(),  # glibc's malloc with huge pages, for torch (core.engine.malloc)
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            bufsize=1,
        )

    def _read_all(self) -> None:
        while True:
            with self._lock:
                popen = self._popen
            assert popen is not None and popen.stdout is not None
            self._read_child(popen.stdout)
            code = popen.wait()
            self._running.clear()
            self._answer_all(f"the worker process ended (exit code {code}) before it answered")
            if self._stop.is_set():
                return
            self.deaths += 1
            again = self.deaths <= RESTART_LIMIT
            print(
                f"atelier: the worker process ended (exit code {code}); "
                + ("starting a new one" if again else "not starting another: it keeps dying"),
                file=sys.stderr,
            )
            if self.exited is not None:
                self.exited(code, again)
            if not again:
                return
            time.sleep(0.5)
            with self._lock:
                if self._stop.is_set():
                    return
                self._spawn()

    def _read_child(self, lines: Any) -> None:
        """Every line of one child, until it ends. A version mismatch is told once a child."""
        mismatch_told = False
        for line in lines:
            try:
                message = protocol.decode(line)
            except protocol.VersionMismatch as exc:
                if not mismatch_told:
                    print(f"atelier: worker events skipped: {exc}", file=sys.stderr)
                mismatch_told = True
                continue
            except protocol.ProtocolError as exc:
                print(f"atelier: a worker event not understood: {exc}", file=sys.stderr)
                continue
            try:
                self._dispatch(message)
            except Exception:  # a listener's bug must not end the reading
                traceback.print_exc(file=sys.stderr)

    def _dispatch(self, message: protocol.Message) -> None:
        events = self.events
        match message:
            case protocol.Started(job):
                self._running[job.id] = job
                _call(events.job_started, job)
            case protocol.Step():
                running = self._running.get(message.job_id)
                if running is not None:
                    _call(events.step, running, _progress(message))
            case protocol.Done(job, outputs):
                self._finished(job)
                _call(events.job_done, job, list(outputs))
            case protocol.Failed(job, kind, text):
                self._finished(job)
                _call(events.job_failed, job, kind, text)
            case protocol.Cancelled(job):
                self._finished(job)
                _call(events.job_cancelled, job)
            case protocol.Paused(job):
                self._finished(job)
                _call(events.job_paused, job)
            case protocol.Workers(workers):
                _call(events.workers, list(workers))
            case protocol.Problem(text):
                print(f"atelier: the worker process: {text}", file=sys.stderr)
                _call(self.problem, text)
            case protocol.Training() | protocol.Samples() | protocol.Note():
                self._training(message)
            case protocol.Recovered(items):
                _call(events.recovered, list(items))
            case protocol.Reproduced(token, report, error):
                reply = self._waiting.get(token)
                if reply is not None:
                    reply.report, reply.error = report, error
                    reply.done.set()
            case _:
                print(f"atelier: a message for the worker came from it: {message}", file=sys.stderr)

    def _training(self, message: protocol.Training | protocol.Samples | protocol.Note) -> None:
        """A running training job's step, samples or note, to its job (started, not ended)."""
        from core.training.loop import TrainingProgress

        running, events = self._running.get(message.job_id), self.events
        if running is None:
            return
        match message:
            case protocol.Training(_, step, total, loss, rate, eta):
                _call(events.training_step, running, TrainingProgress(step, total, loss, rate, eta))
            case protocol.Samples(_, ids):
                _call(events.samples, running, list(ids))
            case protocol.Note(_, text):
                _call(events.note, running, text)

    def _finished(self, job: Job) -> None:
        self._running.pop(job.id, None)
        self.deaths = 0


def _say_stop(popen: subprocess.Popen[str]) -> None:
    try:
        assert popen.stdin is not None
        popen.stdin.write(protocol.encode(protocol.Stop()) + "\n")
        popen.stdin.close()
    except (OSError, ValueError):
        pass  # already gone


def _call(callback: Callable[..., None] | None, *args: object) -> None:
    if callback is not None:
        callback(*args)


def _progress(step: protocol.Step) -> StepProgress:
    preview = None
    if step.preview is not None:
        from PIL import Image

        size = (step.preview.width, step.preview.height)
        preview = Image.frombytes("RGB", size, step.preview.rgb)
    return StepProgress(step.call, step.calls, step.step, step.steps, step.phase, preview)
