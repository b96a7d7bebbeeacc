"""Training as a job in the persistent queue: queued from the CLI, run by `queue run` with its
progress, samples in history linked to the run, paused and resumed with the weights of an
uninterrupted run, cancelled without a variant, and bad input refused before it is queued."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from core.cli.main import main
from core.errors import BadInput
from core.library import Library
from core.queue.jobs import Job
from core.queue.worker import Worker, WorkerEvents
from core.training.loop import TrainingProgress
from core.training.run import train
from core.training.spec import TrainingSpec


def _spec(images: Path, **changes: object) -> TrainingSpec:
    values: dict[str, object] = {
        "method": "lora",
        "base": "demo:sd",
        "images": str(images),
        "prompt": "a zxq star",
        "name": "zxq",
        "steps": 6,
        "seed": 7,
        "batch_size": 2,
        "threads": 1,
    }
    values.update(changes)
    return TrainingSpec(**values)  # type: ignore[arg-type]


def test_a_queued_run_trains_in_queue_run_with_progress_and_samples_in_history(
    tmp_path: Path, subject_images: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = str(tmp_path / "home")
    args = ["--home", home, "train", "lora", "--base", "demo:sd", "--images", str(subject_images)]
    args += ["--prompt", "a zxq star", "--name", "zxq", "--steps", "4", "--seed", "7"]
    args += ["--batch-size", "2", "--threads", "1", "--sample-every", "2"]
    assert main(args) == 0
    assert "queued job 1: train lora zxq on demo:sd" in capsys.readouterr().out

    assert main(["--home", home, "queue", "list", "--json"]) == 0
    [listed] = json.loads(capsys.readouterr().out)
    assert listed["kind"] == "train" and listed["status"] == "queued"
    assert listed["request"]["name"] == "zxq" and listed["request"]["sample_every"] == 2

    assert main(["--home", home, "queue", "run", "--until-empty"]) == 0
    out = capsys.readouterr()
    assert "step 4/4" in out.err and "it/s" in out.err and "ETA" in out.err
    assert "job 1: samples" in out.err
    assert "job 1: trained zxq (lora on demo:sd)" in out.out

    with Library.open(Path(home)) as library:
        job = library.jobs.get(1)
        assert job is not None and job.status == "done"
        run = library.training_runs.for_job(1)
        assert run is not None and run.variant_name == "zxq" and run.job_id == 1
        # two sampling points (steps 2 and 4), two fixed seeds each, each a file in history
        samples = [library.runs.get_output(i) for i in run.record["samples"]]
        assert len(samples) == 4
        for sample in samples:
            assert sample is not None and Path(sample.path).is_file()
            record = json.loads(sample.record_json)
            assert record["training_sample"]["variant"] == "zxq"
            assert record["request"]["task"] == "training-sample"
        assert sorted(s.seed for s in samples if s) == [7, 7, 8, 8]
        steps = sorted(json.loads(s.record_json)["training_sample"]["step"] for s in samples if s)
        assert steps == [2, 2, 4, 4]
        trained = library.models.get("zxq")
        assert trained is not None
        # drawing samples did not change what was learned
        with Library.open(tmp_path / "plain") as plain:
            straight = train(_spec(subject_images, steps=4), plain)
        assert trained.fingerprint == straight.fingerprint


def _worker_until(library: Library, ask: str, at_step: int) -> tuple[Worker, list[int]]:
    """A worker whose training step `at_step` asks the job to pause or cancel, as a person would
    from another window; its heartbeat carries the request to the running job."""
    seen: list[int] = []

    def step(job: Job, progress: TrainingProgress) -> None:
        seen.append(progress.step)
        if progress.step == at_step:
            getattr(library.jobs, ask)(job.id)

    worker = Worker(library, events=WorkerEvents(training_step=step), heartbeat_s=0.05)
    return worker, seen


def test_a_paused_training_job_keeps_its_checkpoint_and_resumes_to_the_same_weights(
    tmp_path: Path, subject_images: Path
) -> None:
    spec = _spec(subject_images, steps=8)
    with Library.open(tmp_path / "straight") as library:
        straight = train(spec, library)
    with Library.open(tmp_path / "queued") as library:
        [job] = library.queue.submit_training(spec)
        worker, seen = _worker_until(library, "pause", 2)
        worker.run(until_empty=True)
        held = library.jobs.get(job.id)
        assert held is not None and held.status == "paused" and held.attempts == 0
        assert library.models.get("zxq") is None  # nothing half-made
        stopped_at = seen[-1]
        assert 2 <= stopped_at < 8
        assert held.progress is not None and held.progress["total"] == 8

        worker.run(until_empty=True)  # a paused job does not run
        assert library.jobs.get(job.id).status == "paused"  # type: ignore[union-attr]

        library.jobs.resume(job.id)
        seen.clear()
        Worker(library, events=WorkerEvents(training_step=lambda j, p: seen.append(p.step))).run(
            until_empty=True
        )
        done = library.jobs.get(job.id)
        assert done is not None and done.status == "done"
        assert seen[0] == stopped_at + 1  # it went on from its checkpoint
        resumed = library.models.get("zxq")
        assert resumed is not None and resumed.fingerprint == straight.fingerprint


def test_a_cancelled_training_job_makes_no_variant(tmp_path: Path, subject_images: Path) -> None:
    with Library.open(tmp_path / "home") as library:
        [job] = library.queue.submit_training(_spec(subject_images, steps=8))
        worker, _ = _worker_until(library, "cancel", 1)
        stats = worker.run(until_empty=True)
        ended = library.jobs.get(job.id)
        assert ended is not None and ended.status == "cancelled" and stats.cancelled == 1
        assert library.models.get("zxq") is None
        assert library.training_runs.for_job(job.id) is None


def test_bad_training_input_is_refused_before_it_is_queued(
    tmp_path: Path, subject_images: Path
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with Library.open(tmp_path / "home") as library:
        with pytest.raises(BadInput, match=f"{empty}: no images") as caught:
            library.queue.submit_training(_spec(empty))
        assert caught.value.field == "images"
        with pytest.raises(BadInput, match="steps"):
            library.queue.submit_training(_spec(subject_images, steps=0))
        library.queue.submit_training(_spec(subject_images))
        with pytest.raises(BadInput, match="'zxq' is the name of queued training job 1"):
            library.queue.submit_training(_spec(subject_images, seed=8))
        assert [j.id for j in library.jobs.list()] == [1]


def test_dreambooth_class_images_are_an_ordinary_job_queued_before_the_run(
    tmp_path: Path, subject_images: Path
) -> None:
    images = tmp_path / "subject"
    shutil.copytree(subject_images, images)
    spec = _spec(
        images, method="dreambooth", steps=2, class_prompt="a star", class_images=2,
        prior_weight=1.0, batch_size=1,
    )  # fmt: skip
    with Library.open(tmp_path / "home") as library:
        class_job, job = library.queue.submit_training(spec)
        first, second = library.jobs.list()
        assert (first.id, second.id) == (class_job.id, job.id)
        assert first.kind == "generate" and first.project == "training"
        assert first.request.prompt == "a star" and first.request.batch_count == 2
        assert second.id == job.id and second.kind == "train"
        stats = Worker(library).run(until_empty=True)
        assert stats.done == 2 and stats.failed == 0
        run = library.training_runs.for_job(job.id)
        assert run is not None
        assert run.record["class_images"]["reused"] is True  # made by the class job
        assert (
            run.record["class_images"]["run_id"]
            == library.runs.first_output_of_job(first.id).run_id
        )  # type: ignore[union-attr]


@pytest.mark.slow
def test_a_killed_queue_run_goes_on_from_the_last_checkpoint_to_the_same_weights(
    tmp_path: Path, subject_images: Path
) -> None:
    """SIGKILL while training (no clean stop, no checkpoint on the way out): the next
    `queue run` recovers the job and continues from the last periodic checkpoint."""
    import signal
    import subprocess
    import sys
    import time

    spec = _spec(subject_images, steps=40, checkpoint_every=4)
    home = tmp_path / "home"
    with Library.open(home) as library:
        [job] = library.queue.submit_training(spec)
    command = [sys.executable, "-m", "core.cli.main", "--home", str(home), "queue", "run"]
    runner = subprocess.Popen([*command, "--until-empty"], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 180
    step = 0
    while step < 8 and runner.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
        with Library.open(home) as library:
            progress = library.jobs.get(job.id).progress  # type: ignore[union-attr]
        step = int(progress["step"]) if progress else 0
    assert runner.poll() is None, "the run ended before it could be killed"
    runner.send_signal(signal.SIGKILL)
    runner.wait(timeout=30)

    again = subprocess.run([*command, "--until-empty"], capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert f"job {job.id}: its worker" in again.stderr  # recovery said what it did
    with Library.open(home) as library:
        run = library.training_runs.for_job(job.id)
        assert run is not None and run.record["resumed_from_step"] >= 4
        assert len(run.record["losses"]) == 40
        finished = library.models.get("zxq")
    with Library.open(tmp_path / "straight") as library:
        straight = train(spec, library)
    assert finished is not None and finished.fingerprint == straight.fingerprint
