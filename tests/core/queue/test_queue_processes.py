"""The queue across real processes: a killed worker, two workers at once, watch mode, Ctrl-C."""

from __future__ import annotations

import json
import queue
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from core.formats.png import read_atelier_record
from core.library import Library
from core.queue.jobs import JobRepository, NewJob
from core.request import GenerationRequest

pytestmark = pytest.mark.slow


def atelier(home: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "core.cli.main", "--home", str(home), *args]


def start(home: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        atelier(home, *args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def count(home: Path, sql: str) -> int:
    db = home / "library.sqlite"
    if not db.exists():
        return 0
    with sqlite3.connect(db, timeout=30) as conn:
        try:
            return int(conn.execute(sql).fetchone()[0])
        except sqlite3.OperationalError:
            return 0


def outputs_in(home: Path) -> int:
    return count(home, "SELECT count(*) FROM outputs")


def running_jobs(home: Path) -> int:
    return count(home, "SELECT count(*) FROM jobs WHERE status = 'running'")


def wait_for(condition: object, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError("timed out waiting")


def image_folder(folder: Path, init_png: Path, count: int) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    stems = [f"photo{i:02d}" for i in range(count)]
    for stem in stems:
        shutil.copy(init_png, folder / f"{stem}.png")
    return stems


def test_a_batch_killed_halfway_finishes_exactly_once(tmp_path: Path, init_png: Path) -> None:
    home, src, out = tmp_path / "home", tmp_path / "in", tmp_path / "out"
    stems = image_folder(src, init_png, 6)
    options = ["--model", "demo:sd", "--prompt", "a red circle", "--steps", "60", "--seed", "3"]
    batch = start(
        home, "batch", str(src), "--task", "img2img", *options, "--strength", "1.0",
        "--out", str(out), "--run",
    )  # fmt: skip
    # Killed in the middle of a job, not in the moment between one job and the next.
    wait_for(lambda: outputs_in(home) >= 2 and running_jobs(home) == 1)
    batch.send_signal(signal.SIGKILL)
    batch.wait(30)
    assert outputs_in(home) < 6, "the batch finished before it could be killed"

    finish = subprocess.run(
        atelier(home, "queue", "run", "--until-empty"), capture_output=True, text=True, timeout=300
    )
    assert finish.returncode == 0, finish.stderr
    assert "stopped" in finish.stderr  # the killed worker's job was recovered, and said so

    files = sorted(p.name for p in out.iterdir())
    assert files == [f"{s}.png" for s in stems]  # one output per input, no leftovers
    with Library.open(home) as lib:
        outputs = lib.runs.list_outputs(limit=100)
        assert len(outputs) == 6
        assert sorted(Path(o.path).name for o in outputs) == files
        for o in outputs:
            assert read_atelier_record(o.path) == json.loads(o.record_json)
        runs_per_job = Counter(lib.runs.get_run(o.run_id).job_id for o in outputs)  # type: ignore[union-attr]
        assert set(runs_per_job.values()) == {1}
        assert JobRepository(lib.db.session_factory).counts()["done"] == 6
    assert not list(home.rglob("*.tmp-*")) and not list(out.glob(".*"))
    with sqlite3.connect(home / "library.sqlite") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_two_workers_share_one_queue_and_run_each_job_once(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with Library.open(home) as lib:
        jobs = JobRepository(lib.db.session_factory)
        jobs.add_many(
            [
                NewJob(GenerationRequest("text2img", "demo:sd", "x", seed=s, steps=3))
                for s in range(10)
            ]
        )
    workers = [start(home, "queue", "run", "--until-empty") for _ in range(2)]
    for w in workers:
        _, err = w.communicate(timeout=300)
        assert w.returncode == 0, err
        assert "locked" not in err
    with Library.open(home) as lib:
        jobs = JobRepository(lib.db.session_factory)
        assert jobs.counts()["done"] == 10
        outputs = lib.runs.list_outputs(limit=100)
        assert len(outputs) == 10
        per_job = Counter(lib.runs.get_run(o.run_id).job_id for o in outputs)  # type: ignore[union-attr]
        assert len(per_job) == 10 and set(per_job.values()) == {1}
        for o in outputs:
            assert read_atelier_record(o.path) == json.loads(o.record_json)


def test_watch_mode_takes_new_files_once_even_after_a_restart(
    tmp_path: Path, init_png: Path
) -> None:
    home, src, out = tmp_path / "home", tmp_path / "in", tmp_path / "out"
    image_folder(src, init_png, 1)
    args = ("batch", str(src), "--task", "img2img", "--model", "demo:sd", "--prompt", "x",
            "--steps", "2", "--out", str(out))  # fmt: skip
    watcher = start(home, *args, "--watch", "--run")
    wait_for(lambda: outputs_in(home) >= 1)
    shutil.copy(init_png, src / "late1.png")
    shutil.copy(init_png, src / "late2.png")
    wait_for(lambda: outputs_in(home) >= 3)
    watcher.send_signal(signal.SIGINT)
    _, err = watcher.communicate(timeout=60)
    assert watcher.returncode == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["late1.png", "late2.png", "photo00.png"]

    again = subprocess.run(atelier(home, *args), capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert "0 new jobs" in again.stderr


def test_ctrl_c_stops_cleanly_and_leaves_the_job_queued(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with Library.open(home) as lib:
        jobs = JobRepository(lib.db.session_factory)
        job = jobs.add(NewJob(GenerationRequest("text2img", "demo:sd", "x", seed=1, steps=400)))
    runner = start(home, "queue", "run")
    wait_for(lambda: _status(home, job.id) == "running")
    time.sleep(1.0)
    runner.send_signal(signal.SIGINT)
    _, err = runner.communicate(timeout=60)
    assert runner.returncode == 0, err
    assert "Traceback" not in err
    assert _status(home, job.id) == "queued"
    assert outputs_in(home) == 0


def _status(home: Path, job_id: int) -> str | None:
    db = home / "library.sqlite"
    if not db.exists():
        return None
    with sqlite3.connect(db, timeout=30) as conn:
        row = conn.execute("SELECT status FROM jobs WHERE id = ?", (job_id,)).fetchone()
    return row[0] if row else None


def test_queue_run_says_when_it_waits_and_why(tmp_path: Path) -> None:
    """A paused queue is named both ways `queue run` ends: at once with `--until-empty`, and
    while it waits without it; an empty queue says it waits for jobs."""
    home = tmp_path / "home"
    with Library.open(home) as lib:
        jobs = JobRepository(lib.db.session_factory)
        jobs.add(NewJob(GenerationRequest("text2img", "demo:sd", "x", seed=1, steps=2)))
        jobs.set_paused(True)
    once = subprocess.run(
        atelier(home, "queue", "run", "--until-empty"), capture_output=True, text=True, timeout=120
    )
    assert once.returncode == 0, once.stderr
    assert "0 done" in once.stderr
    assert "the queue is paused: 1 queued jobs wait for `atelier queue resume`" in once.stderr

    runner = start(home, "queue", "run")
    said, reader = _lines_of(runner)
    first = said.get(timeout=120)
    assert first.startswith("queue paused: no job starts until `atelier queue resume`"), first
    assert subprocess.run(atelier(home, "queue", "resume"), timeout=120).returncode == 0
    waiting = said.get(timeout=120)
    while not waiting.startswith("queue empty"):  # the job's progress lines come first
        waiting = said.get(timeout=120)
    assert waiting.startswith("queue empty: waiting for jobs"), waiting
    runner.send_signal(signal.SIGINT)
    assert runner.wait(timeout=60) == 0
    assert runner.stdout is not None
    assert "job 1: output 1 -> " in runner.stdout.read()
    reader.join(timeout=60)
    rest = list(said.queue)
    assert any(line.startswith("1 done, 0 failed") for line in rest), rest


def _lines_of(process: subprocess.Popen[str]) -> tuple[queue.Queue[str], threading.Thread]:
    """The process's stderr, line by line, read by a thread (so a test waits with a timeout)."""
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            lines.put(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    return lines, reader
