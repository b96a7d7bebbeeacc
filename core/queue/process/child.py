"""The worker process's side: run a `Worker` over the library, send its events, obey the window.

`python -m core.queue.process.child HOME` runs the worker in the main thread (see
`Worker.start` for why) and reads the parent's messages on stdin in another thread. With
`--ray ADDRESS` ("auto": the cluster `ray start` left on this machine; "local": a Ray of its
own) it runs a `ClusterHead` there instead; a cluster it cannot reach (or lost every worker of)
is told to the window as a `Problem`, and the jobs run on this machine's own `Worker`.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import os
import platform
import sys
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING

from core.engine.runner import StepProgress
from core.errors import AtelierError
from core.library.schema import utc_now
from core.queue.jobs import Job
from core.queue.process import protocol
from core.queue.worker import WorkerEvents, WorkerStatus

if TYPE_CHECKING:
    from core.library import Library
    from core.queue.cluster.head import ClusterHead
    from core.queue.worker import Worker


class _Sender:
    """Writes messages to the parent, one line each; a parent that went away stops the worker."""

    def __init__(self, out: IO[str], on_gone: Callable[[], None]) -> None:
        self.out, self.on_gone = out, on_gone
        self._lock = threading.Lock()

    def __call__(self, message: protocol.ToParent) -> None:
        line = protocol.encode(message)  # a message that cannot be encoded is a bug, raised
        try:
            with self._lock:
                self.out.write(line + "\n")
                self.out.flush()
        except (OSError, ValueError):
            self.on_gone()

    def events(self, steps: bool = True) -> WorkerEvents:
        """The worker's events as messages (without steps, the engine makes no previews)."""
        return WorkerEvents(
            job_started=lambda job: self(protocol.Started(job)),
            step=(lambda job, progress: self(_step(job, progress))) if steps else None,
            job_done=lambda job, outputs: self(protocol.Done(_ended(job, "done"), tuple(outputs))),
            job_failed=lambda job, kind, text: self(
                protocol.Failed(_ended(job, "failed", kind, text), kind, text)
            ),
            job_cancelled=lambda job: self(
                protocol.Cancelled(_ended(job, "cancelled", "Cancelled", "cancelled while running"))
            ),
            recovered=lambda items: self(protocol.Recovered(tuple(items))),
            job_paused=lambda job: self(protocol.Paused(_held(job))),
            training_step=lambda job, p: self(
                protocol.Training(job.id, p.step, p.total, p.loss, p.it_per_s, p.eta_s)
            ),
            samples=lambda job, ids: self(protocol.Samples(job.id, tuple(ids))),
            note=lambda job, text: self(protocol.Note(job.id, text)),
            workers=lambda workers: self(protocol.Workers(tuple(workers))),
        )


def as_one_worker(events: WorkerEvents) -> WorkerEvents:
    """`events`, with the local worker told as one worker of this machine: its device (`auto`
    until its first job picks one) and the job it runs, at each start and end."""
    node = platform.node() or "this machine"
    device = "auto"
    tell = events.workers

    def running(job: Job | None) -> None:
        nonlocal device
        if job is not None:
            device = _device_of(job) or device
        if tell is not None:
            tell([WorkerStatus(node, device, job.id if job is not None else None)])

    def then(callback: Callable[..., None] | None, starts: bool) -> Callable[..., None]:
        """`callback`, then the worker told: running the job it got (`starts`), or idle."""

        def call(job: Job, *args: object) -> None:
            if callback is not None:
                callback(job, *args)
            running(job if starts else None)

        return call

    running(None)
    return dataclasses.replace(
        events,
        job_started=then(events.job_started, True),
        job_done=then(events.job_done, False),
        job_failed=then(events.job_failed, False),
        job_cancelled=then(events.job_cancelled, False),
        job_paused=then(events.job_paused, False),
    )


def _device_of(job: Job) -> str | None:
    """The device a job runs on here: the one it asks for, else this machine's choice."""
    try:
        from core.engine.device import select_device

        return select_device(getattr(job.work, "device", None))
    except Exception:  # a device this machine lacks: the job fails and says so
        return None


def _ended(job: Job, status: str, error_type: str | None = None, message: str | None = None) -> Job:
    """The job as the worker just left it in the database (`JobRepository.finish`, or the
    outputs' transaction for done), so the parent need not read it back."""
    return dataclasses.replace(
        job,
        status=status,
        error_type=error_type,
        error_message=message,
        worker=None,
        cancel_requested=False,
        finished_at=utc_now(),
    )


def _held(job: Job) -> Job:
    """The job as a pause left it: held, uncounted (`JobRepository.release`)."""
    return dataclasses.replace(
        job, status="paused", worker=None, started_at=None, attempts=max(0, job.attempts - 1)
    )


def _step(job: Job, progress: StepProgress) -> protocol.Step:
    preview = None
    if progress.preview is not None:
        image = progress.preview.convert("RGB")
        preview = protocol.Preview(image.width, image.height, image.tobytes())
    return protocol.Step(
        job.id,
        progress.call,
        progress.calls,
        progress.step,
        progress.steps,
        progress.phase,
        preview,
    )


class _Runner:
    """What runs the jobs now: a cluster head, or (from the start, or after the cluster failed)
    a local worker. The stdin thread stops whichever it is; once stopped, no other starts."""

    def __init__(self) -> None:
        self.now: Worker | ClusterHead | None = None
        self.stopped = threading.Event()
        self._lock = threading.Lock()

    def take(self, runner: Worker | ClusterHead) -> bool:
        """`runner` runs next; False when a stop came first (then it must not run)."""
        with self._lock:
            if self.stopped.is_set():
                return False
            self.now = runner
            return True

    def stop(self) -> None:
        from core.queue.worker import Worker

        with self._lock:
            self.stopped.set()
            if isinstance(self.now, Worker):
                self.now.stop(wait=False)
            elif self.now is not None:
                self.now.stop()


def _obey(runner: _Runner, send: _Sender) -> None:
    """Read the parent's messages until `Stop` or the end of stdin."""
    from core.queue.worker import Worker

    for line in sys.stdin:
        try:
            message = protocol.decode(line)
        except protocol.ProtocolError as exc:
            print(f"atelier worker: a message not understood: {exc}", file=sys.stderr)
            token = _token_of(line)
            if token is not None:  # a reproduce request: the window waits for an answer
                send(protocol.Reproduced(token, error=str(exc)))
            continue
        worker = runner.now
        match message:
            case protocol.Wake():
                if isinstance(worker, Worker):  # a cluster head finds new jobs at its next poll
                    worker.wake()
            case protocol.Stop():
                break
            case protocol.Reproduce(token, output_id) if isinstance(worker, Worker):
                worker.call_soon(functools.partial(_reproduce, worker, send, token, output_id))
            case protocol.Reproduce(token):
                send(protocol.Reproduced(token, error="the worker process runs a cluster head"))
            case _:
                print(f"atelier worker: not a message for the worker: {message}", file=sys.stderr)
    runner.stop()  # `Stop`, or the parent is gone


def _token_of(line: str) -> str | None:
    try:
        token = json.loads(line).get("token")
    except (ValueError, AttributeError):
        return None
    return token if isinstance(token, str) else None


def _reproduce(worker: Worker, send: _Sender, token: str, output_id: int) -> None:
    """In the worker's thread: reproduce one output with the worker's engine, and answer.

    Every request gets an answer, whatever fails, so no window waits forever.
    """
    from core.reproduce import reproduce_output

    answer = protocol.Reproduced(token, error="the worker process could not reproduce it")
    try:
        report = reproduce_output(
            worker.library, worker.generator, output_id, cancel=worker.cancel_event
        )
        answer = protocol.Reproduced(token, report=report.to_dict())
        protocol.encode(answer)  # a report that cannot be sent is an error, below
    except AtelierError as exc:  # an unknown output
        answer = protocol.Reproduced(token, error=str(exc))
    except Exception as exc:
        traceback.print_exc(file=sys.stderr)
        answer = protocol.Reproduced(token, error=f"unexpected {type(exc).__name__}: {exc}")
    finally:
        send(answer)


def serve(
    home: Path, poll_s: float, heartbeat_s: float, steps: bool = True, ray: str | None = None
) -> int:
    from core.library import Library
    from core.queue.worker import Worker

    out = sys.stdout
    sys.stdout = sys.stderr  # library chatter must not break the protocol
    library = Library.open(home)
    runner = _Runner()
    send = _Sender(out, runner.stop)
    events = send.events(steps)
    threading.Thread(target=_obey, args=(runner, send), name="stdin", daemon=True).start()
    try:
        if ray is not None and _run_on_cluster(
            library, events, ray, send, runner, (poll_s, heartbeat_s)
        ):
            return 0
        worker = Worker(
            library, events=as_one_worker(events), poll_s=poll_s, heartbeat_s=heartbeat_s
        )
        if runner.take(worker):
            worker.run()
    finally:
        library.close()
    return 0


def _run_on_cluster(
    library: Library,
    events: WorkerEvents,
    address: str,
    send: _Sender,
    runner: _Runner,
    times: tuple[float, float],
) -> bool:
    """Run a cluster head until stopped (True); False when the cluster cannot be reached or
    failed (the window is told why, and a local worker runs the jobs instead)."""
    from core.queue.cluster.head import ClusterHead
    from core.queue.cluster.pool import connect

    try:
        poll_s, heartbeat_s = times
        head = ClusterHead(
            library, connect(address), events, poll_s=poll_s, heartbeat_s=heartbeat_s
        )
    except Exception as exc:  # Ray missing (BadInput), no cluster at the address
        traceback.print_exc(file=sys.stderr)
        send(protocol.Problem(f"Run on cluster: {_reason(exc)}; jobs run on this machine"))
        return False
    if not runner.take(head):
        return True
    try:
        head.run()
    except Exception as exc:  # no node to run on, every worker lost
        traceback.print_exc(file=sys.stderr)
        send(protocol.Problem(f"Run on cluster stopped: {_reason(exc)}; jobs run on this machine"))
        return runner.stopped.is_set()
    return True


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.queue.process.child")
    parser.add_argument("home", type=Path)
    parser.add_argument("--poll", type=float, default=0.5)
    parser.add_argument("--heartbeat", type=float, default=2.0)
    parser.add_argument(
        "--no-steps", action="store_true", help="send no step events (nobody listens)"
    )
    parser.add_argument(
        "--ray",
        metavar="ADDRESS",
        help="run a cluster head on the Ray cluster at ADDRESS ('auto': the one `ray start` "
        "left here; 'local': a Ray of its own) instead of a local worker",
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("ATELIER_HOME", str(args.home))
    from core.engine.quiet import quiet_libraries

    quiet_libraries()  # ATELIER_VERBOSE, from the process that started this one, says otherwise
    return serve(args.home, args.poll, args.heartbeat, steps=not args.no_steps, ray=args.ray)


if __name__ == "__main__":
    sys.exit(main())
