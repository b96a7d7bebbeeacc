"""The worker in its own process, as the desktop app runs it.

Loading a model imports torch, diffusers and transformers and reads the weights; parts of that
hold Python's GIL for a few hundred milliseconds at a time, and in the GUI's process the window
froze for as long (bench case gui_stall_ms). So the window's process never runs a model: it
starts `python -m core.queue.worker_process HOME`, which runs the same `Worker` over the same
library, and reads its events back as JSON lines on the child's stdout.

- Parent -> child, on stdin: the line "stop" (finish the current step, put the running job back,
  exit). The end of stdin means the same, so a child never outlives a window that crashed. The
  line "wake" says a job was just added, so an idle child claims it now, not at its next poll.
  The line "reproduce TOKEN OUTPUT_ID" asks the child to reproduce & verify that output with
  the models it has loaded, before its next job; it answers {"event": "reproduced", "token",
  "report" | "error"}.
- Child -> parent, on stdout: {"event": "started" | "step" | "done" | "failed" | "cancelled" |
  "recovered", ...}; jobs travel as ids and are read back from the library, step previews as
  PNG bytes (base64). The child's stderr is the parent's, so tracebacks still reach the terminal.
- Cancelling a running job needs no message: the child's heartbeat reads the cancel request from
  the database, as for any worker.
- A child that dies (killed, out of memory, a driver crash) is started again, and its crash
  recovery puts the job it was running back in the queue (or fails it after too many tries);
  after `RESTART_LIMIT` deaths in a row without finishing a job it is left stopped.
"""

from __future__ import annotations

import argparse
import base64
import functools
import io
import json
import os
import secrets
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from core.engine.runner import StepProgress
from core.errors import AtelierError
from core.generation import GeneratedOutput
from core.queue.jobs import JobRepository
from core.queue.recovery import Recovered
from core.queue.worker import WorkerEvents

if TYPE_CHECKING:
    from core.library import Library
    from core.queue.worker import Worker
    from core.reproduce import ReproduceReport

RESTART_LIMIT = 3
STOP_LINE = "stop"
WAKE_LINE = "wake"
REPRODUCE_WORD = "reproduce"


class _Reply:
    """What one "reproduce" line is waiting for."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.report: dict[str, Any] | None = None
        self.error: str | None = None


class WorkerProcess:
    """Start, stop and listen to a worker process; `events` are called in a reader thread.

    It has the thread worker's `start`, `stop` and `stopping`, so the GUI's session can hold
    either. `exited` (optional) hears of a child that ended on its own: its exit code and
    whether another one was started.
    """

    def __init__(
        self,
        library: Library,
        events: WorkerEvents | None = None,
        *,
        poll_s: float = 0.5,
        heartbeat_s: float = 2.0,
        exited: Callable[[int, bool], None] | None = None,
    ) -> None:
        self.library = library
        self.jobs = JobRepository(library.db.session_factory)
        self.events = events or WorkerEvents()
        self.exited = exited
        self.poll_s = poll_s
        self.heartbeat_s = heartbeat_s
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._popen: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None
        self._write_lock = threading.Lock()  # lines to the child come from several threads
        self._waiting: dict[str, _Reply] = {}  # reproduce requests by token
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
        self._tell(WAKE_LINE)  # a child that is gone: its replacement looks at the queue first

    def reproduce(self, output_id: int, timeout: float | None = None) -> ReproduceReport:
        """Reproduce & verify `output_id` in the child, with the models it has loaded, before
        its next job (blocking: call it off the GUI thread). RuntimeError when it cannot
        answer: an unknown output, or a child that ended first."""
        from core.reproduce import ReproduceReport

        token = secrets.token_hex(4)
        reply = _Reply()
        self._waiting[token] = reply
        try:
            if not self._tell(f"{REPRODUCE_WORD} {token} {int(output_id)}"):
                raise RuntimeError("the worker process is not running")
            if not reply.done.wait(timeout):
                raise RuntimeError(f"the worker process did not answer within {timeout} s")
        finally:
            self._waiting.pop(token, None)
        if reply.error is not None or reply.report is None:
            raise RuntimeError(reply.error or "the worker process sent no report")
        return ReproduceReport.from_dict(reply.report)

    def _tell(self, line: str) -> bool:
        """Send one line to the child; False when there is none to hear it."""
        with self._lock:
            popen = self._popen
        if popen is None or self._stop.is_set():
            return False
        try:
            with self._write_lock:
                assert popen.stdin is not None
                popen.stdin.write(line + "\n")
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
    def _spawn(self) -> None:
        command = [
            sys.executable,
            "-m",
            "core.queue.worker_process",
            str(self.library.home),
            "--poll",
            str(self.poll_s),
            "--heartbeat",
            str(self.heartbeat_s),
        ]
        from core.engine.malloc import tuned_env

        self._popen = subprocess.Popen(
            command,
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
            for line in popen.stdout:
                try:
                    self._dispatch(json.loads(line))
                except Exception as exc:  # one bad event must not end the reading
                    print(f"atelier: worker event not understood: {exc}", file=sys.stderr)
            code = popen.wait()
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

    def _dispatch(self, event: dict[str, Any]) -> None:
        kind = event["event"]
        if kind == "reproduced":
            reply = self._waiting.get(str(event["token"]))
            if reply is not None:
                reply.report, reply.error = event.get("report"), event.get("error")
                reply.done.set()
            return
        if kind == "recovered":
            items = [Recovered(**item) for item in event["items"]]
            _call(self.events.recovered, items)
            return
        job = self.jobs.get(int(event["job"])) if "job" in event else None
        if job is None:
            return  # deleted meanwhile, or an event without a job
        if kind == "started":
            _call(self.events.job_started, job)
        elif kind == "step":
            _call(self.events.step, job, _progress(event))
        elif kind == "done":
            self.deaths = 0
            outputs = [GeneratedOutput(**item) for item in event["outputs"]]
            _call(self.events.job_done, job, outputs)
        elif kind == "failed":
            self.deaths = 0
            _call(self.events.job_failed, job, event["kind"], event["message"])
        elif kind == "cancelled":
            self.deaths = 0
            _call(self.events.job_cancelled, job)


def _say_stop(popen: subprocess.Popen[str]) -> None:
    try:
        assert popen.stdin is not None
        popen.stdin.write(STOP_LINE + "\n")
        popen.stdin.close()
    except (OSError, ValueError):
        pass  # already gone


def _call(callback: Callable[..., None] | None, *args: object) -> None:
    if callback is not None:
        callback(*args)


def _progress(event: dict[str, Any]) -> StepProgress:
    preview = None
    if event.get("preview"):
        from PIL import Image

        preview = Image.open(io.BytesIO(base64.b64decode(event["preview"])))
        preview.load()
    return StepProgress(
        call=event["call"],
        calls=event["calls"],
        step=event["step"],
        steps=event["steps"],
        phase=event["phase"],
        preview=preview,
    )


# ---- in the child ---------------------------------------------------------------------------
class _Sender:
    """Writes events as JSON lines; a parent that went away stops the worker."""

    def __init__(self, out: IO[str], on_gone: Callable[[], None]) -> None:
        self.out, self.on_gone = out, on_gone
        self._lock = threading.Lock()

    def __call__(self, **event: Any) -> None:
        line = json.dumps(event)  # not JSON is a bug, raised; not a parent that went away
        try:
            with self._lock:
                self.out.write(line + "\n")
                self.out.flush()
        except (OSError, ValueError):
            self.on_gone()

    def events(self, wants_previews: bool = True) -> WorkerEvents:
        return WorkerEvents(
            job_started=lambda job: self(event="started", job=job.id),
            step=(lambda job, p: self(event="step", job=job.id, **_step_fields(p)))
            if wants_previews
            else None,
            job_done=lambda job, outs: self(
                event="done", job=job.id, outputs=[o.to_dict() for o in outs]
            ),
            job_failed=lambda job, kind, msg: self(
                event="failed", job=job.id, kind=kind, message=msg
            ),
            job_cancelled=lambda job: self(event="cancelled", job=job.id),
            recovered=lambda items: self(
                event="recovered",
                items=[
                    {"job_id": i.job_id, "requeued": i.requeued, "reason": i.reason} for i in items
                ],
            ),
        )


def _step_fields(progress: StepProgress) -> dict[str, Any]:
    preview = None
    if progress.preview is not None:
        buffer = io.BytesIO()
        progress.preview.save(buffer, format="PNG", compress_level=1)
        preview = base64.b64encode(buffer.getvalue()).decode("ascii")
    return {
        "call": progress.call,
        "calls": progress.calls,
        "step": progress.step,
        "steps": progress.steps,
        "phase": progress.phase,
        "preview": preview,
    }


def _watch_stdin(worker: Worker, send: _Sender) -> None:
    for line in sys.stdin:
        words = line.split()
        if words == [WAKE_LINE]:
            worker.wake()
        elif words == [STOP_LINE]:
            break
        elif len(words) >= 2 and words[0] == REPRODUCE_WORD:
            token = words[1]
            if len(words) == 3 and words[2].isdecimal() and words[2].isascii():
                worker.call_soon(functools.partial(_reproduce, worker, send, token, int(words[2])))
            else:
                send(event="reproduced", token=token, error=f"not understood: {line.strip()!r}")
    worker.stop(wait=False)  # "stop", or the parent is gone


def _reproduce(worker: Worker, send: _Sender, token: str, output_id: int) -> None:
    """In the worker's thread: reproduce one output with the worker's engine, and answer.

    Every request gets an answer, whatever fails, so no window waits forever.
    """
    from core.reproduce import reproduce_output

    answer: dict[str, Any] = {"error": "the worker process could not reproduce it"}
    try:
        report = reproduce_output(
            worker.library, worker.generator, output_id, cancel=worker.cancel_event
        )
        answer = {"report": report.to_dict()}
        json.dumps(answer)  # a report that cannot be sent is an error, below
    except AtelierError as exc:  # an unknown output
        answer = {"error": str(exc)}
    except Exception as exc:
        traceback.print_exc(file=sys.stderr)
        answer = {"error": f"unexpected {type(exc).__name__}: {exc}"}
    finally:
        send(event="reproduced", token=token, **answer)


def serve(home: Path, poll_s: float, heartbeat_s: float) -> int:
    from core.library import Library
    from core.queue.worker import Worker

    out = sys.stdout
    sys.stdout = sys.stderr  # library chatter must not break the protocol
    library = Library.open(home)
    worker: Worker | None = None

    def stop() -> None:
        if worker is not None:
            worker.stop(wait=False)

    send = _Sender(out, stop)
    worker = Worker(library, events=send.events(), poll_s=poll_s, heartbeat_s=heartbeat_s)
    watch = threading.Thread(target=_watch_stdin, args=(worker, send), name="stdin", daemon=True)
    watch.start()
    try:
        worker.run()
    finally:
        library.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.queue.worker_process")
    parser.add_argument("home", type=Path)
    parser.add_argument("--poll", type=float, default=0.5)
    parser.add_argument("--heartbeat", type=float, default=2.0)
    args = parser.parse_args(argv)
    os.environ.setdefault("ATELIER_HOME", str(args.home))
    from core.engine.quiet import quiet_libraries

    quiet_libraries()  # ATELIER_VERBOSE, from the process that started this one, says otherwise
    return serve(args.home, args.poll, args.heartbeat)


if __name__ == "__main__":
    sys.exit(main())
