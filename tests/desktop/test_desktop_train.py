"""The Train tab and training jobs in the queue panel: a run queued from the panel shows as a
training job, bad input is marked and queues nothing, a training step's progress reads as
step/loss/rate/ETA, a job is held and released from the queue panel, the loss curve and the
samples fill from the worker's events, and the trained LoRA goes to the generate panel in one
click (end to end through the window's worker process)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from core.queue.jobs import NewJob
from core.request import GenerationRequest, LoraRef
from core.training.loop import TrainingProgress
from core.training.spec import TrainingSpec
from desktop.main_window import MainWindow
from desktop.panels.fields import INVALID_STYLE
from training.subject import render_instances

DOT = "\u00b7"


@pytest.fixture(scope="module")
def subject_images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six 64x64 renders of a purple star, five with a caption file and one without."""
    folder = tmp_path_factory.mktemp("subject")
    render_instances(folder, captions=True)
    (folder / "subject-5.txt").unlink()
    return folder


def _fill(window: MainWindow, images: Path, *, steps: int = 2, samples: int = 0) -> None:
    """A tiny LoRA run on demo:sd: one thread (the preferences'), batch 2."""
    window.session.apply(dataclasses.replace(window.session.prefs, threads=1))
    panel = window.train
    panel.method.setCurrentText("lora")
    panel.images.setText(str(images))
    panel.prompt.setText("a zxq star")
    panel.base.setCurrentText("demo:sd")
    panel.name.setText("zxq")
    panel.steps.setValue(steps)
    panel.seed.setValue(7)
    panel.batch_size.setValue(2)
    panel.sample_every.setValue(samples)


def _spec(images: Path, name: str = "zxq") -> TrainingSpec:
    return TrainingSpec(
        method="lora", base="demo:sd", images=str(images), prompt="a zxq star", name=name,
        steps=200, seed=7, batch_size=2, threads=1,
    )  # fmt: skip


def test_the_panel_shows_captions_and_queues_a_lora_run_as_a_training_job(
    window: MainWindow, subject_images: Path, qtbot
) -> None:
    _fill(window, subject_images)
    listed = dict(window.train.instances.captions())
    assert len(listed) == 6
    assert listed["subject-0.png"] == "a zxq star on a yellow background"  # its caption file
    assert listed["subject-5.png"] == "a zxq star"  # no caption file: the instance prompt
    window.train.prompt.setText("a zxq shape")
    assert dict(window.train.instances.captions())["subject-5.png"] == "a zxq shape"
    window.train.prompt.setText("a zxq star")

    qtbot.mouseClick(window.train.start_button, Qt.MouseButton.LeftButton)
    [job] = window.session.jobs.list()
    assert job.kind == "train" and job.status == "queued"
    assert job.spec.method == "lora" and job.spec.base == "demo:sd" and job.spec.name == "zxq"
    assert (job.spec.steps, job.spec.batch_size, job.spec.threads) == (2, 2, 1)
    assert job.spec.images == str(subject_images) and job.spec.train_text_encoder
    model, row = window.queue.model, window.queue.model.row_of(job.id)
    assert row is not None
    assert model.text(row, 1) == "queued" and model.text(row, 2) == "train lora"
    assert model.text(row, 3) == "demo:sd" and model.text(row, 4) == "zxq: a zxq star"
    assert window.train.watched == job.id
    assert f"job {job.id}" in window.train.run_label.text()

    # the same name again is refused, naming the field, while the first waits
    qtbot.mouseClick(window.train.start_button, Qt.MouseButton.LeftButton)
    assert "queued training job" in window.train.error.text()
    assert window.train.name.styleSheet() == INVALID_STYLE
    assert len(window.session.jobs.list()) == 1


def test_bad_input_is_marked_and_queues_nothing(
    window: MainWindow, tmp_path: Path, subject_images: Path
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    _fill(window, empty)
    assert window.train.start() is None
    assert "no images" in window.train.error.text()
    assert window.train.images.styleSheet() == INVALID_STYLE
    assert "no images" in window.statusBar().currentMessage()
    _fill(window, subject_images)
    window.train.lr.setText("fast")
    assert window.train.start() is None
    assert window.train.lr.styleSheet() == INVALID_STYLE and "1e-4" in window.train.error.text()
    window.train.lr.setText("")
    window.train.method.setCurrentText("textual-inversion")  # the prompt lacks the token
    assert window.train.start() is None
    assert window.train.prompt.styleSheet() == INVALID_STYLE
    assert "<zxq>" in window.train.error.text()
    assert window.session.jobs.list() == []


def test_each_method_shows_its_own_settings_and_defaults(window: MainWindow) -> None:
    panel, form = window.train, window.train.form
    panel.method.setCurrentText("lora")
    assert form.isRowVisible(panel.rank) and not form.isRowVisible(panel.token)
    assert panel.lr.placeholderText().startswith("0.0001")
    panel.method.setCurrentText("dreambooth")
    assert form.isRowVisible(panel.class_prompt) and form.isRowVisible(panel.class_images)
    assert not form.isRowVisible(panel.rank) and panel.steps.value() == 400
    assert panel.lr.placeholderText().startswith("5e-06")
    panel.method.setCurrentText("textual-inversion")
    assert form.isRowVisible(panel.token) and form.isRowVisible(panel.initializer)
    assert not form.isRowVisible(panel.train_text_encoder)
    assert panel.lr.placeholderText().startswith("0.005")


def test_training_progress_in_the_queue_row_and_the_loss_curve(
    window: MainWindow, subject_images: Path
) -> None:
    jobs, bridge, model = window.session.jobs, window.session.bridge, window.queue.model
    added = jobs.add(NewJob(_spec(subject_images)))
    window.queue.refresh()
    job = jobs.claim_next("test-worker")
    assert job is not None and job.id == added.id
    bridge.jobStarted.emit(job)
    bridge.trainingStep.emit(job, TrainingProgress(39, 200, 0.0912, 2.5, 76.4))
    bridge.trainingStep.emit(job, TrainingProgress(40, 200, 0.0731, 2.5, 76.0))
    row = model.row_of(job.id)
    expected = f"step 40/200 {DOT} loss 0.0731 {DOT} 2.5 it/s {DOT} ETA 1:16"
    assert model.text(row, 4) == expected
    assert model.text(row, 1) == "running 40/200" and "ETA 1m16s" in model.text(row, 5)
    assert window.queue.progress.value() == 40
    # the Train tab watches the job that started; its curve has the two steps
    assert window.train.watched == job.id
    assert window.train.curve.points == [(39, 0.0912), (40, 0.0731)]
    assert window.train.curve.total == 200
    window.train.curve.resize(300, 150)
    line = window.train.curve.polyline()
    assert line.size() == 2 and line.at(0).y() < line.at(1).y()  # the loss went down
    assert "loss 0.0731" in window.train.run_label.text()
    bridge.note.emit(job, "warning: 6 images is few")  # what the run says shows in the status bar
    assert window.statusBar().currentMessage() == f"job {job.id}: warning: 6 images is few"

    # a run another process works on: its last progress from the database
    other = jobs.add(NewJob(_spec(subject_images, name="other")))
    jobs.finish(job.id, "cancelled")
    claimed = jobs.claim_next("other-process")
    assert claimed is not None and claimed.id == other.id
    progress = TrainingProgress(3, 10, 0.25, 0.5, 14.0).to_dict()
    jobs.heartbeat(other.id, "other-process", progress)
    window.queue.refresh()
    row = model.row_of(other.id)
    assert model.text(row, 4) == f"step 3/10 {DOT} loss 0.2500 {DOT} 0.50 it/s {DOT} ETA 0:14"


def test_hold_and_release_a_job_from_the_queue_panel(
    window: MainWindow, subject_images: Path, qtbot
) -> None:
    jobs, queue = window.session.jobs, window.queue
    waiting = jobs.add(NewJob(_spec(subject_images)))
    queue.refresh()
    queue.select_job(waiting.id)
    assert queue.hold_button.text() == "Pause job" and queue.hold_button.isEnabled()
    qtbot.mouseClick(queue.hold_button, Qt.MouseButton.LeftButton)
    assert jobs.get(waiting.id).status == "paused"
    assert queue.model.text(queue.model.row_of(waiting.id), 1) == "paused"
    assert queue.hold_button.text() == "Resume job"
    assert jobs.claim_next("test-worker") is None  # a held job does not run
    qtbot.mouseClick(queue.hold_button, Qt.MouseButton.LeftButton)
    assert jobs.get(waiting.id).status == "queued"
    assert queue.hold_button.text() == "Pause job"
    assert not jobs.is_paused()  # the queue itself was never paused

    # a running job is asked to pause; it reads "pausing" until the worker stops it
    running = jobs.claim_next("test-worker")
    assert running is not None
    window.session.bridge.jobStarted.emit(running)
    queue.select_job(running.id)
    qtbot.mouseClick(queue.hold_button, Qt.MouseButton.LeftButton)
    assert jobs.pause_requested(running.id)
    assert queue.model.text(queue.model.row_of(running.id), 1) == "pausing"
    assert not queue.hold_button.isEnabled()
    jobs.release(running.id, "paused")  # as the worker does at the next step
    window.session.bridge.jobPaused.emit(running)
    assert queue.model.text(queue.model.row_of(running.id), 1) == "paused"
    assert queue.running_job is None and queue.hold_button.text() == "Resume job"
    # cancel works on a held job as on any other
    queue.cancel_selected()
    assert jobs.get(running.id).status == "cancelled"


def test_use_in_generate_sets_an_embedding_or_a_model(window: MainWindow) -> None:
    generate = window.generate
    generate.prompt.setPlainText("a star on a red background")
    generate.use_trained("zxq-ti", "embedding", "demo:sd", "a <zxq> star", "<zxq>")
    assert generate.embedding.text() == "zxq-ti"
    assert generate.prompt.toPlainText() == "<zxq> a star on a red background"
    assert generate.request().embeddings[0].path == "zxq-ti"
    generate.prompt.setPlainText("")
    generate.use_trained("zxq-db", "sd1", "demo:sd", "a zxq star", "")
    assert generate.model.currentText() == "zxq-db"
    assert generate.prompt.toPlainText() == "a zxq star"


def test_train_in_the_window_then_use_the_lora_in_one_click(
    running_window: MainWindow, subject_images: Path, qtbot
) -> None:
    """End to end: the window's worker process trains 2 steps with a sample at each; the loss
    curve and samples fill; Use in Generate puts the LoRA at 0.8 into the generate panel, and
    an image made with it lands in history."""
    window = running_window
    bridge = window.session.bridge
    window.centre.setCurrentWidget(window.train)
    _fill(window, subject_images, steps=2, samples=1)
    with qtbot.waitSignal(
        bridge.jobDone, timeout=120_000, check_params_cb=lambda job, _: job.kind == "train"
    ):
        job = window.train.start()
        assert job is not None
    assert [step for step, _ in window.train.curve.points] == [1, 2]
    assert len(window.train.sample_output_ids()) == 4  # two seeds at each of two steps
    assert window.session.jobs.get(job.id).status == "done"
    assert window.queue.model.text(window.queue.model.row_of(job.id), 1) == "done"
    assert window.train.use_button.isEnabled()
    assert window.generate.model.findText("zxq") >= 0  # the new variant is listed

    qtbot.mouseClick(window.train.use_button, Qt.MouseButton.LeftButton)
    generate = window.generate
    assert generate.loras.loras() == (LoraRef("zxq", 0.8),)
    assert generate.model.currentText() == "demo:sd"
    assert generate.prompt.toPlainText() == "a zxq star"
    generate.random_seed.setChecked(False)
    generate.steps.setValue(2)
    with qtbot.waitSignal(window.queue.outputsReady, timeout=60_000) as made:
        (image_job,) = generate.queue_jobs(1)
    [output] = made.args[0]
    assert Path(output.path).is_file()
    request = window.session.jobs.get(image_job.id).request
    assert isinstance(request, GenerationRequest) and request.loras == (LoraRef("zxq", 0.8),)


def test_pause_a_running_training_job_then_resume_it_from_its_checkpoint(
    running_window: MainWindow, subject_images: Path, qtbot
) -> None:
    """Through the worker process: Pause job stops the run at its next step (its checkpoint
    kept, the row paused); Resume job goes on from that step, not from the start."""
    window = running_window
    bridge, queue, jobs = window.session.bridge, window.queue, window.session.jobs
    _fill(window, subject_images, steps=500)
    with qtbot.waitSignal(bridge.trainingStep, timeout=60_000):
        job = window.train.start()
        assert job is not None
    queue.select_job(job.id)
    with qtbot.waitSignal(bridge.jobPaused, timeout=30_000):
        qtbot.mouseClick(queue.hold_button, Qt.MouseButton.LeftButton)
    assert jobs.get(job.id).status == "paused"
    assert queue.model.text(queue.model.row_of(job.id), 1) == "paused"
    assert queue.hold_button.text() == "Resume job"
    assert "paused" in window.train.run_label.text()
    stopped_at = window.train.curve.points[-1][0]
    assert 1 <= stopped_at < 500

    with qtbot.waitSignal(bridge.trainingStep, timeout=60_000) as resumed:
        qtbot.mouseClick(queue.hold_button, Qt.MouseButton.LeftButton)
    assert resumed.args[1].step == stopped_at + 1  # from the checkpoint, not step 1
    with qtbot.waitSignal(bridge.jobCancelled, timeout=30_000):
        queue.cancel_selected()
    assert jobs.get(job.id).status == "cancelled"
    assert window.session.library.models.get("zxq") is None
