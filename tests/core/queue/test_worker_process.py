"""The worker in its own process (the desktop app's way): events come back, a killed worker is
started again and its job finished, stop puts the running job back, cancel reaches the child,
the window reads no database for the events, and lines it cannot read leave the child running."""

from __future__ import annotations

import os
import platform
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from core.engine import malloc
from core.formats.png import read_atelier_record
from core.library import Library
from core.queue.jobs import JobRepository, NewJob
from core.queue.process.parent import WorkerProcess
from core.queue.worker import WorkerEvents, WorkerStatus
from core.request import GenerationRequest

pytestmark = pytest.mark.slow


def _request(**kw: Any) -> GenerationRequest:
    base: dict[str, Any] = {"task": "text2img", "model": "demo:sd", "seed": 1, "steps": 2}
    base.update(kw)
    return GenerationRequest(prompt="a red circle on a blue background", **base)


class Heard:
    """Every event the parent heard, by kind, in the order heard."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []
        self.exits: list[tuple[int, bool]] = []
        self.lock = threading.Lock()

    def add(self, kind: str, *args: Any) -> None:
        with self.lock:
            self.events.append((kind, args))

    def of(self, kind: str) -> list[Any]:
        with self.lock:
            return [args for k, args in self.events if k == kind]

    def worker_events(self) -> WorkerEvents:
        return WorkerEvents(
            job_started=lambda job: self.add("started", job),
            step=lambda job, progress: self.add("step", job, progress),
            job_done=lambda job, outputs: self.add("done", job, outputs),
            job_failed=lambda job, kind, message: self.add("failed", job, kind, message),
            job_cancelled=lambda job: self.add("cancelled", job),
            recovered=lambda items: self.add("recovered", items),
        )


def wait_for(condition: Callable[[], bool], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting")


@pytest.fixture
def heard() -> Heard:
    return Heard()


@pytest.fixture
def spawn(library: Library, heard: Heard) -> Iterator[Callable[..., WorkerProcess]]:
    started: list[WorkerProcess] = []

    def make(poll_s: float = 0.05) -> WorkerProcess:
        process = WorkerProcess(
            library,
            heard.worker_events(),
            poll_s=poll_s,
            heartbeat_s=0.1,
            exited=lambda code, again: heard.exits.append((code, again)),
        )
        process.start()
        started.append(process)
        return process

    yield make
    for process in started:
        process.stop(wait=True, timeout=60)


def test_jobs_run_in_the_child_and_their_events_reach_the_parent(
    library: Library, heard: Heard, spawn: Callable[..., WorkerProcess]
) -> None:
    jobs = JobRepository(library.db.session_factory)
    added = jobs.add_many([NewJob(_request(seed=s)) for s in (1, 2)])
    process = spawn()
    wait_for(lambda: len(heard.of("done")) == 2)
    started = [args[0] for args in heard.of("started")]
    assert [job.id for job in started] == [j.id for j in added]
    for job in started:  # claimed by the child, not by this process
        assert job.worker and job.worker.split(":")[1] == str(process.pid) != str(os.getpid())
    for job, outputs in heard.of("done"):
        assert job.status == "done"
        (output,) = outputs
        record = read_atelier_record(Path(output.path))
        assert record["request"]["seed"] == job.request.seed
    if malloc.applies():  # the child runs torch with glibc's huge-page malloc
        environ = Path(f"/proc/{process.pid}/environ").read_bytes().split(b"\0")
        assert b"GLIBC_TUNABLES=glibc.malloc.hugetlb=1" in environ
    steps = heard.of("step")
    assert steps, "no step progress crossed"
    assert all(args[1].preview is not None and args[1].preview.size[0] > 0 for args in steps)
    assert {args[1].steps for args in steps} == {2}


def test_a_child_told_a_cluster_it_cannot_reach_says_so_and_runs_the_jobs_itself(
    library: Library, heard: Heard
) -> None:
    """`--ray ADDRESS` with nothing at ADDRESS: a `Problem` the window shows at once (Ray alone
    would wait minutes), and the local worker, telling itself as one worker, runs the job."""
    pytest.importorskip("ray")
    added = JobRepository(library.db.session_factory).add(NewJob(_request()))
    problems: list[str] = []
    told: list[list[WorkerStatus]] = []
    events = heard.worker_events()
    events.workers = told.append
    process = WorkerProcess(
        library, events, poll_s=0.05, heartbeat_s=0.1, problem=problems.append, ray="127.0.0.1:1"
    )
    assert process._command()[-2:] == ["--ray", "127.0.0.1:1"]
    process.start()
    try:
        wait_for(lambda: bool(heard.of("done")), timeout=120)
    finally:
        process.stop(wait=True, timeout=60)
    (problem,) = problems
    assert problem.startswith("Run on cluster: cannot reach the Ray cluster at 127.0.0.1:1")
    assert problem.endswith("jobs run on this machine")
    assert heard.of("done")[0][0].id == added.id
    assert [w.job_id for w in told[1]] == [added.id] and len(told[1]) == 1
    assert told[0] == [WorkerStatus(platform.node(), "auto", None)]  # before its first job


def test_a_killed_worker_is_started_again_and_its_job_finishes(
    library: Library, heard: Heard, spawn: Callable[..., WorkerProcess]
) -> None:
    jobs = JobRepository(library.db.session_factory)
    slow = jobs.add(NewJob(_request(steps=150)))
    process = spawn()
    wait_for(lambda: bool(heard.of("step")))
    first = process.pid
    assert first is not None
    os.kill(first, signal.SIGKILL)
    wait_for(lambda: bool(heard.of("done")), timeout=240)
    assert heard.exits and heard.exits[0][1] is True  # told, and started again
    assert process.pid != first
    assert heard.of("recovered")[0][0][0].job_id == slow.id
    finished = jobs.get(slow.id)
    assert finished is not None and finished.status == "done" and finished.attempts == 2
    assert library.runs.count_outputs() == 1  # one image, not a half-written second


def test_stop_puts_the_running_job_back_and_the_child_exits(
    library: Library, heard: Heard, spawn: Callable[..., WorkerProcess]
) -> None:
    jobs = JobRepository(library.db.session_factory)
    slow = jobs.add(NewJob(_request(steps=150)))
    process = spawn()
    wait_for(lambda: bool(heard.of("step")))
    popen = process._popen
    assert popen is not None
    process.stop(wait=True, timeout=60)
    assert popen.returncode == 0
    back = jobs.get(slow.id)
    assert back is not None and back.status == "queued" and back.attempts == 0
    assert library.runs.count_outputs() == 0
    assert not heard.exits  # a stop asked for is not a crash


def test_a_cancel_from_the_window_reaches_the_running_child(
    library: Library, heard: Heard, spawn: Callable[..., WorkerProcess]
) -> None:
    jobs = JobRepository(library.db.session_factory)
    slow = jobs.add(NewJob(_request(steps=150)))
    after = jobs.add(NewJob(_request(seed=5)))
    spawn()
    wait_for(lambda: bool(heard.of("step")))
    jobs.cancel(slow.id)
    wait_for(lambda: bool(heard.of("done")))
    assert [args[0].id for args in heard.of("cancelled")] == [slow.id]
    assert jobs.get(slow.id).status == "cancelled"  # type: ignore[union-attr]
    assert heard.of("done")[0][0].id == after.id


def _child_after_one_job(
    library: Library, heard: Heard, spawn: Callable[..., WorkerProcess], seed: int
) -> tuple[WorkerProcess, Any]:
    """A child with a ten-minute poll that has run one job (its model loaded) and gone idle;
    the job's output."""
    JobRepository(library.db.session_factory).add(NewJob(_request(seed=seed)))
    process = spawn(poll_s=600)
    wait_for(lambda: len(heard.of("done")) == 1)  # the child has found its first job,
    time.sleep(1.0)  # and has looked for a next one and gone idle
    (output,) = heard.of("done")[0][1]
    return process, output


def test_a_job_added_by_the_window_wakes_the_idle_child(
    library: Library, heard: Heard, spawn: Callable[..., WorkerProcess]
) -> None:
    """With a poll of ten minutes, only the window's wake-up line can start the second job."""
    process, _ = _child_after_one_job(library, heard, spawn, seed=1)
    second = JobRepository(library.db.session_factory).add(NewJob(_request(seed=2)))
    process.wake()
    wait_for(lambda: len(heard.of("done")) == 2, timeout=300)
    assert heard.of("done")[1][0].id == second.id


def test_reproduce_runs_in_the_child_with_its_loaded_model(
    library: Library, heard: Heard, spawn: Callable[..., WorkerProcess]
) -> None:
    """The window's reproduce & verify: the child answers with the model it already has."""
    process, output = _child_after_one_job(library, heard, spawn, seed=3)
    pid = process.pid
    report = process.reproduce(output.output_id, timeout=120)
    assert report.status == "exact" and report.output_id == output.output_id, report.to_dict()
    assert process.pid == pid and not heard.exits  # the same child, still running
    with pytest.raises(RuntimeError, match="no output 99999 in this library"):
        process.reproduce(99999, timeout=120)
    assert process.running
    process.stop(wait=True, timeout=60)
    assert not process.running  # the window's Session then reproduces in a process of its own
    with pytest.raises(RuntimeError, match="not running"):
        process.reproduce(output.output_id, timeout=5)


@pytest.mark.parametrize("end", ["stop", "kill"])
def test_a_reproduce_pending_when_the_child_ends_is_answered_with_an_error(
    library: Library, heard: Heard, spawn: Callable[..., WorkerProcess], end: str
) -> None:
    """A reproduce queued behind a running job, and the child stops or dies: the window's
    thread gets an error instead of waiting forever."""
    process, output = _child_after_one_job(library, heard, spawn, seed=3)
    JobRepository(library.db.session_factory).add(NewJob(_request(steps=400)))
    process.wake()
    wait_for(lambda: len(heard.of("step")) > 2)  # the long job runs
    errors: list[str] = []

    def ask() -> None:
        try:
            process.reproduce(output.output_id, timeout=120)
        except RuntimeError as exc:
            errors.append(str(exc))

    asking = threading.Thread(target=ask)
    asking.start()
    time.sleep(0.5)  # the request is in the child's queue, behind the running job
    if end == "stop":
        process.stop(wait=True, timeout=60)
    else:
        assert process.pid is not None
        os.kill(process.pid, signal.SIGKILL)
    asking.join(60)
    assert not asking.is_alive()
    assert errors and "ended" in errors[0] and "before it answered" in errors[0], errors


def test_the_window_reads_no_database_for_the_events(
    library: Library, heard: Heard, spawn: Callable[..., WorkerProcess]
) -> None:
    """The child's events carry their job: the window's process runs no statement while a job
    runs and ends in the child, steps included."""
    added = JobRepository(library.db.session_factory).add(NewJob(_request(steps=6)))
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(library.db.engine, "before_cursor_execute", count)
    try:
        spawn()
        wait_for(lambda: bool(heard.of("done")))
    finally:
        event.remove(library.db.engine, "before_cursor_execute", count)
    assert len(heard.of("step")) == 6
    assert statements == []
    (started,) = heard.of("started")
    assert started[0].id == added.id and started[0].status == "running"
    ((job, outputs),) = heard.of("done")
    assert (job.id, job.status, job.worker, job.request) == (added.id, "done", None, added.request)
    assert job.finished_at is not None and job.finished_at >= job.created_at
    assert outputs[0].seed == added.request.seed


class _ChildOfAnotherVersion(WorkerProcess):
    """A child that first writes lines this window cannot read, then runs as usual."""

    script: Path

    def _command(self) -> list[str]:
        return [sys.executable, str(self.script), *super()._command()[3:]]


def test_lines_the_window_cannot_read_are_reported_and_the_child_keeps_working(
    library: Library, heard: Heard, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    _ChildOfAnotherVersion.script = tmp_path / "child.py"
    _ChildOfAnotherVersion.script.write_text(
        "import sys\n"
        'print(\'{"v": 99, "type": "wake"}\', flush=True)\n'
        'print(\'{"v": 99, "type": "started", "job": 1}\', flush=True)\n'
        "print('a line of chatter', flush=True)\n"
        "from core.queue.process.child import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    added = JobRepository(library.db.session_factory).add(NewJob(_request()))
    process = _ChildOfAnotherVersion(
        library,
        heard.worker_events(),
        poll_s=0.05,
        heartbeat_s=0.1,
        exited=lambda code, again: heard.exits.append((code, again)),
    )
    process.start()
    try:
        wait_for(lambda: bool(heard.of("done")))
        assert heard.of("done")[0][0].id == added.id
        assert process.running and not heard.exits  # the same child, never restarted
    finally:
        process.stop(wait=True, timeout=60)
    err = capfd.readouterr().err
    told = "worker events skipped: worker protocol version 99, expected 3: the window and its"
    assert err.count(told) == 1, err  # once for the child, not once a line
    assert "worker event not understood: worker protocol: not a JSON line: 'a line of" in err
