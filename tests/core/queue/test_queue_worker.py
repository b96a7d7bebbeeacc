"""The queue and its worker in one process: order, states, cancel, stop, recovery, bad files."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from core.engine.runner import Engine
from core.errors import BadInput
from core.generation import Generator
from core.library import Library
from core.queue.batch import BatchSpec, FolderBatch
from core.queue.jobs import MAX_ATTEMPTS, JobRepository, NewJob
from core.queue.recovery import recover_jobs
from core.queue.worker import Worker, WorkerEvents
from core.request import GenerationRequest


def _request(**kw: object) -> GenerationRequest:
    base: dict[str, object] = {
        "task": "text2img", "model": "demo:sd", "seed": 1, "steps": 2, "prompt": "a red circle"
    }  # fmt: skip
    base.update(kw)
    return GenerationRequest(**base)  # type: ignore[arg-type]


@pytest.fixture
def jobs(library: Library) -> JobRepository:
    return JobRepository(library.db.session_factory)


@pytest.fixture
def worker(library: Library, engine: Engine) -> Worker:
    return Worker(library, Generator(library, engine), heartbeat_s=0.05, poll_s=0.05)


def test_jobs_run_in_queue_order_and_are_recorded(jobs: JobRepository, worker: Worker) -> None:
    added = jobs.add_many([NewJob(_request(seed=s)) for s in (1, 2, 3)])
    jobs.move(added[2].id, 1)
    assert [j.id for j in jobs.list(("queued",))] == [added[2].id, added[0].id, added[1].id]
    stats = worker.run(until_empty=True)
    assert stats.job_ids == [added[2].id, added[0].id, added[1].id]
    assert stats.done == 3 and stats.outputs == 3
    assert jobs.counts()["done"] == 3
    runs = worker.library.runs
    assert runs.count_outputs() == 3
    for output in runs.list_outputs():
        assert runs.get_run(output.run_id).job_id in {j.id for j in added}  # type: ignore[union-attr]


def test_a_limit_stops_the_worker_after_that_many_jobs(jobs: JobRepository, worker: Worker) -> None:
    added = jobs.add_many([NewJob(_request(seed=s)) for s in (1, 2, 3)])
    stats = worker.run(until_empty=True, limit=2)
    assert stats.job_ids == [added[0].id, added[1].id] and stats.done == 2
    assert jobs.get(added[2].id).status == "queued"  # type: ignore[union-attr]


def test_a_failing_job_fails_alone_and_the_queue_goes_on(
    jobs: JobRepository, worker: Worker, tmp_path: Path
) -> None:
    bad = jobs.add(NewJob(_request(task="img2img", init_image=str(tmp_path / "missing.png"))))
    good = jobs.add(NewJob(_request()))
    failures: list[tuple[int, str]] = []
    worker.events = WorkerEvents(job_failed=lambda job, kind, msg: failures.append((job.id, msg)))
    worker.run(until_empty=True)
    failed = jobs.get(bad.id)
    assert failed is not None and failed.status == "failed"
    assert failed.error_type == "BadInput" and "missing.png" in (failed.error_message or "")
    assert failures and failures[0][0] == bad.id
    assert jobs.get(good.id).status == "done"  # type: ignore[union-attr]


def test_a_job_that_cannot_be_written_fails_alone(
    jobs: JobRepository, worker: Worker, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the output folder should be")
    bad = jobs.add(NewJob(_request(), out_dir=str(blocker)))
    good = jobs.add(NewJob(_request(seed=2), out_dir=str(tmp_path / "out")))
    stats = worker.run(until_empty=True)
    failed = jobs.get(bad.id)
    assert failed is not None and failed.status == "failed"
    assert str(blocker) in (failed.error_message or "")
    assert jobs.get(good.id).status == "done"  # type: ignore[union-attr]
    assert stats.done == 1 and stats.failed == 1
    [output] = worker.library.runs.list_outputs()
    assert Path(output.path).parent == tmp_path / "out" and Path(output.path).is_file()


def test_pause_holds_the_queue_and_resume_releases_it(jobs: JobRepository, worker: Worker) -> None:
    job = jobs.add(NewJob(_request()))
    jobs.set_paused(True)
    assert worker.run_one() is False
    jobs.set_paused(False)
    assert worker.run_one() is True
    assert jobs.get(job.id).status == "done"  # type: ignore[union-attr]


def test_cancel_a_running_job_stops_it_and_writes_nothing(
    jobs: JobRepository, worker: Worker
) -> None:
    job = jobs.add(NewJob(_request(steps=400)))  # long enough to be cancelled while running
    started = threading.Event()
    worker.events = WorkerEvents(step=lambda j, e: started.set())
    thread = threading.Thread(target=worker.run_one)
    thread.start()
    assert started.wait(60)
    assert jobs.cancel(job.id) == "cancelling"
    thread.join(60)
    assert jobs.get(job.id).status == "cancelled"  # type: ignore[union-attr]
    assert worker.library.runs.count_outputs() == 0


def test_cancel_retry_and_clear_of_queued_jobs(jobs: JobRepository) -> None:
    job = jobs.add(NewJob(_request()))
    assert jobs.cancel(job.id) == "cancelled"
    with pytest.raises(BadInput, match="cancelled"):
        jobs.cancel(job.id)
    jobs.retry(job.id)
    assert jobs.get(job.id).status == "queued"  # type: ignore[union-attr]
    jobs.cancel(job.id)
    assert jobs.clear(("cancelled",)) == 1
    assert jobs.get(job.id) is None
    with pytest.raises(BadInput, match="no job"):
        jobs.retry(job.id)


class IdleWorker:
    """A worker thread with a ten-minute poll, started on an empty queue and left to go idle:
    only `wake` or `call_soon` can make it do anything soon."""

    def __init__(self, library: Library, engine: Engine) -> None:
        self.worker = Worker(library, Generator(library, engine), heartbeat_s=0.05, poll_s=600)
        self.done = threading.Event()
        self.worker.events = WorkerEvents(job_done=lambda job, outputs: self.done.set())
        self.thread = self.worker.start()
        time.sleep(1.0)  # it has found the queue empty and is waiting out its poll


@pytest.fixture
def idle(library: Library, engine: Engine) -> Iterator[IdleWorker]:
    started = IdleWorker(library, engine)
    yield started
    started.worker.stop(wait=True, timeout=60)  # an idle worker stops at once, not after its poll
    assert not started.thread.is_alive()


def test_an_idle_worker_woken_runs_a_new_job_without_waiting_for_its_poll(
    idle: IdleWorker, jobs: JobRepository
) -> None:
    """The desktop adds a job and wakes its worker: the job starts now, not a poll later."""
    job = jobs.add(NewJob(_request(seed=9)))
    idle.worker.wake()
    assert idle.done.wait(300), "the woken worker left the job for its 600 s poll"
    assert jobs.get(job.id).status == "done"  # type: ignore[union-attr]


def test_calls_run_in_the_worker_thread_between_jobs_and_a_failing_one_is_survived(
    idle: IdleWorker, jobs: JobRepository
) -> None:
    ran: list[str] = []
    called = threading.Event()
    idle.worker.call_soon(lambda: 1 / 0)  # printed; the worker goes on
    idle.worker.call_soon(lambda: (ran.append(threading.current_thread().name), called.set()))
    assert called.wait(60), "the idle worker left the call for its 600 s poll"
    assert ran == [idle.thread.name]
    job = jobs.add(NewJob(_request(seed=4)))
    idle.worker.wake()
    assert idle.done.wait(300)
    assert jobs.get(job.id).status == "done"  # type: ignore[union-attr]


def test_an_idle_worker_says_so_once_and_again_when_the_queue_is_paused_or_resumed(
    jobs: JobRepository, worker: Worker
) -> None:
    """`atelier queue run` prints these: a worker that waits in silence looks hung."""
    said: list[tuple[str, object]] = []
    changed = threading.Event()

    def note(kind: str, value: object) -> None:
        said.append((kind, value))
        changed.set()

    def until(count: int) -> None:
        deadline = time.monotonic() + 120
        while len(said) < count and time.monotonic() < deadline:
            changed.wait(0.5)
            changed.clear()
        assert len(said) >= count, said

    worker.events = WorkerEvents(
        job_done=lambda job, outputs: note("done", job.id), idle=lambda paused: note("idle", paused)
    )
    thread = worker.start()
    try:
        until(1)
        time.sleep(0.5)  # ten more polls: going idle is told once, not at every poll
        assert said == [("idle", False)]
        jobs.set_paused(True)
        job = jobs.add(NewJob(_request()))
        until(2)
        assert said[1] == ("idle", True)  # paused: the job waits, and the worker says why
        assert jobs.get(job.id).status == "queued"  # type: ignore[union-attr]
        jobs.set_paused(False)
        until(4)
        assert said[2:4] == [("done", job.id), ("idle", False)]
    finally:
        worker.stop(wait=True, timeout=60)
    assert not thread.is_alive()


def test_stopping_the_worker_leaves_the_running_job_queued(
    jobs: JobRepository, worker: Worker
) -> None:
    job = jobs.add(NewJob(_request(steps=400)))
    worker.events = WorkerEvents(step=lambda j, e: worker.stop(wait=False))
    worker.run(until_empty=True)
    again = jobs.get(job.id)
    assert again is not None and again.status == "queued" and again.attempts == 0
    assert worker.library.runs.count_outputs() == 0


def test_a_job_of_a_dead_worker_is_queued_again_then_given_up(jobs: JobRepository) -> None:
    job = jobs.add(NewJob(_request()))
    dead = f"{socket.gethostname()}:{_dead_pid()}:x"
    for attempt in range(1, MAX_ATTEMPTS + 1):
        claimed = jobs.claim_next(dead)
        assert claimed is not None and claimed.attempts == attempt
        [recovered] = recover_jobs(jobs)
        assert recovered.job_id == job.id
    final = jobs.get(job.id)
    assert final is not None and final.status == "failed" and final.error_type == "Interrupted"
    assert "3 times" in (final.error_message or "")


def test_a_live_worker_keeps_its_job(jobs: JobRepository) -> None:
    jobs.add(NewJob(_request()))
    jobs.claim_next(f"{socket.gethostname()}:{os.getpid()}:me")
    assert recover_jobs(jobs) == []


def test_folder_batch_bad_files_fail_alone(
    library: Library, worker: Worker, jobs: JobRepository, tmp_path: Path, init_png: Path
) -> None:
    folder, masks, out = tmp_path / "in", tmp_path / "masks", tmp_path / "out"
    folder.mkdir()
    masks.mkdir()
    for name in ("good", "text", "cut", "nomask", "smallmask"):
        (folder / f"{name}.png").write_bytes(init_png.read_bytes())
        if name not in ("nomask",):
            Image.new("L", (32, 32) if name == "smallmask" else (64, 64), 255).save(
                masks / f"{name}.png"
            )
    (folder / "text.png").write_text("not an image")
    data = init_png.read_bytes()
    (folder / "cut.png").write_bytes(data[: len(data) // 2])
    (folder / "notes.txt").write_text("ignored: not an image suffix")
    spec = BatchSpec(folder, _request(task="inpaint", steps=2), out, masks_dir=masks)
    batch = FolderBatch.open(library, spec)
    assert len(batch.scan()) == 5
    assert batch.scan() == []  # each file once
    worker.run(until_empty=True)
    by_input = {Path(j.input_path or "").stem: j for j in jobs.list()}
    assert by_input["good"].status == "done"
    assert (out / "good.png").is_file()
    expectations = {
        "text": "not an image",
        "cut": "truncated",
        "nomask": "no mask",
        "smallmask": "32x32",
    }
    for stem, words in expectations.items():
        job = by_input[stem]
        assert job.status == "failed", stem
        assert f"{stem}.png" in (job.error_message or "") and words in (job.error_message or "")
    assert sorted(p.name for p in out.iterdir()) == ["good.png"]


def test_a_leftover_output_is_replaced_but_a_recorded_one_never(
    jobs: JobRepository, worker: Worker, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "photo.png").write_bytes(b"half written by a crashed run")
    first = jobs.add(NewJob(_request(), out_dir=str(out), stem="photo"))
    worker.run(until_empty=True)
    assert Image.open(out / "photo.png").size == (64, 64)  # the leftover was replaced
    jobs.add(NewJob(_request(seed=9), out_dir=str(out), stem="photo"))
    worker.run(until_empty=True)
    assert sorted(p.name for p in out.iterdir()) == ["photo-1.png", "photo.png"]
    assert jobs.get(first.id).status == "done"  # type: ignore[union-attr]


def _dead_pid() -> int:
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    return int(proc.stdout)


def test_batch_prompts_from_sidecars_or_metadata_and_paired_depth_maps(
    library: Library, tmp_path: Path, init_png: Path
) -> None:
    from core.formats.png import write_png

    folder, depth, out = tmp_path / "in", tmp_path / "depth", tmp_path / "out"
    folder.mkdir()
    depth.mkdir()
    image = Image.open(init_png)
    write_png(
        image,
        folder / "tagged.png",
        {"parameters": "a purple star\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1"},
    )
    image.save(folder / "plain.png")
    (folder / "plain.txt").write_text("a green square\n")
    Image.new("L", (64, 64), 128).save(depth / "plain.png")
    template = _request(task="depth", model="demo:sd-depth", prompt="fallback")
    jobs = JobRepository(library.db.session_factory)

    sidecar = FolderBatch.open(
        library, BatchSpec(folder, template, out, depth_dir=depth, prompt_from="sidecar")
    )
    by_stem = {Path(j.input_path or "").stem: j for j in sidecar.scan()}
    assert by_stem["plain"].request.prompt == "a green square"
    assert by_stem["tagged"].request.prompt == "fallback"  # no sidecar: the batch's prompt
    assert by_stem["plain"].request.depth_map == str(depth / "plain.png")
    assert by_stem["tagged"].request.depth_map is None  # no map: estimated

    metadata = FolderBatch.open(
        library, BatchSpec(folder, template, tmp_path / "out2", prompt_from="metadata")
    )
    by_stem = {Path(j.input_path or "").stem: j for j in metadata.scan()}
    assert by_stem["tagged"].request.prompt == "a purple star"
    assert by_stem["plain"].request.prompt == "fallback"
    assert len(jobs.list()) == 4
