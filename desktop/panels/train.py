"""The Train panel: pick instance images, a method and its settings, queue the run; watch its
loss curve and samples grow; then hand the result to the generate panel in one click.

The run is a job of the persistent queue (`library.queue.submit_training`, checked before it is
queued); the window's worker runs it and its training events arrive through the bridge. The
panel watches one training job at a time: the one last started or queued here, or the one
selected in the queue panel.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QSize, Qt, Signal, Slot
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QScrollArea,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from core.errors import BadInput
from core.training.spec import DEFAULT_LR, DEFAULT_TOKEN, METHODS, TrainingSpec
from desktop.item_models.queue import training_text
from desktop.loss_curve import LossCurve
from desktop.panels.fields import FileField, clear_marks, dspin_box, mark_invalid, spin_box
from desktop.panels.train_images import InstanceImages
from desktop.thumbnails import ThumbnailCache

if TYPE_CHECKING:
    from core.queue.jobs import Job
    from core.training.loop import TrainingProgress
    from desktop.session import Session

SAMPLE_PX = 96
FORM_PX = 340
# the usual recipes (docs/training.md): steps, batch size, text encoder trained
METHOD_DEFAULTS: dict[str, dict[str, Any]] = {
    "lora": {"steps": 300, "batch_size": 4, "train_text_encoder": True},
    "dreambooth": {"steps": 400, "batch_size": 4, "train_text_encoder": False},
    "textual-inversion": {"steps": 300, "batch_size": 4, "train_text_encoder": False},
}
# the rows only some methods use -> those methods
METHOD_ROWS = {
    "rank": ("lora",),
    "alpha": ("lora",),
    "train_text_encoder": ("lora", "dreambooth"),
    "class_prompt": ("dreambooth",),
    "class_images": ("dreambooth",),
    "prior_weight": ("dreambooth",),
    "token": ("textual-inversion",),
    "initializer": ("textual-inversion",),
}
TRAINABLE_KINDS = ("sd1", "sd2")


class TrainPanel(QWidget):
    queued = Signal(list)  # the new jobs (a DreamBooth run's class-image jobs too)
    message = Signal(str)
    trained = Signal(str)  # a run finished: the new variant's name
    # the generate panel takes the result: name, kind ("lora", "embedding" or a model's),
    # the base model, the instance prompt, the token (textual inversion)
    useTrained = Signal(str, str, str, str, str)

    def __init__(
        self,
        session: Session,
        project: Callable[[], str] = lambda: "default",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.session = session
        self.project = project
        self.watched: int | None = None  # the training job the curve and samples are of
        self.losses: dict[int, list[tuple[int, float]]] = {}  # job id -> this session's steps
        self.totals: dict[int, int] = {}
        self.sample_ids: dict[int, list[int]] = {}  # job id -> samples seen as they came
        self.thumbnails = ThumbnailCache(session.home / "thumbnails", self)
        self.thumbnails.ready.connect(self._sample_thumbnail)
        self._build()
        self.reload_models()
        self.method_changed()
        bridge = session.bridge
        bridge.jobStarted.connect(self.on_started)
        bridge.trainingStep.connect(self.on_training_step)
        bridge.samples.connect(self.on_samples)
        bridge.jobDone.connect(self.on_done)
        for signal in (bridge.jobFailed, bridge.jobCancelled, bridge.jobPaused):
            signal.connect(self.on_stopped)

    # ---- widgets -------------------------------------------------------------------------
    def _build(self) -> None:
        self.images = FileField("folder of instance images", "", folder=True)
        self.images.textChanged.connect(self.folder_changed)
        self.prompt = QLineEdit()
        self.prompt.setPlaceholderText("instance prompt with an identifier, e.g. a zxq dog")
        self.prompt.textChanged.connect(self._prompt_changed)
        self.method = QComboBox()
        self.method.addItems(list(METHODS))
        self.method.currentTextChanged.connect(self.method_changed)
        self.base = QComboBox()
        self.base.setEditable(True)
        self.name = QLineEdit()
        self.name.setPlaceholderText("the new variant's name")
        self.steps = spin_box(1, 1_000_000, 300, None)
        self.seed = spin_box(0, 2**31 - 1, 1, None)
        self.lr = QLineEdit()
        self.resolution = spin_box(0, 4096, 0, "the model's size", step=8)
        self.batch_size = spin_box(1, 256, 4, None)
        self.checkpoint_every = spin_box(0, 1_000_000, 0, "only at the end")
        self.sample_every = spin_box(0, 1_000_000, 0, "no samples")
        self.rank = spin_box(1, 1024, 4, None)
        self.alpha = dspin_box(0.0, 1024.0, 0.0, 1.0)
        self.alpha.setSpecialValueText("= rank")
        self.train_text_encoder = QCheckBox("also train the text encoder")
        self.class_prompt = QLineEdit()
        self.class_prompt.setPlaceholderText("the subject's class, e.g. a dog")
        self.class_images = spin_box(0, 10_000, 0, "none (no prior preservation)")
        self.prior_weight = dspin_box(0.0, 10.0, 1.0, 0.1)
        self.token = QLineEdit()
        self.token.setPlaceholderText(DEFAULT_TOKEN)
        self.initializer = QLineEdit()
        self.initializer.setPlaceholderText("a word to start from (else the mean embedding)")
        self.error = QLabel()
        self.error.setStyleSheet("color: #d9534f;")
        self.error.setWordWrap(True)
        self.start_button = QPushButton("Start training")
        self.start_button.clicked.connect(self.start)

        self.form = QFormLayout()
        self._rows: dict[str, QWidget] = {}
        for label, key, widget in (
            ("Images", "", self.images), ("Prompt", "", self.prompt),
            ("Method", "", self.method), ("Base model", "", self.base), ("Name", "", self.name),
            ("Steps", "", self.steps), ("Seed", "", self.seed), ("Learning rate", "", self.lr),
            ("Resolution", "", self.resolution), ("Batch size", "", self.batch_size),
            ("Rank", "rank", self.rank), ("Alpha", "alpha", self.alpha),
            ("Text encoder", "train_text_encoder", self.train_text_encoder),
            ("Class prompt", "class_prompt", self.class_prompt),
            ("Class images", "class_images", self.class_images),
            ("Prior weight", "prior_weight", self.prior_weight),
            ("Token", "token", self.token), ("Initializer", "initializer", self.initializer),
            ("Checkpoint every", "", self.checkpoint_every),
            ("Samples every", "", self.sample_every),
        ):  # fmt: skip
            self.form.addRow(label, widget)
            if key:
                self._rows[key] = widget
        self.fields: dict[str, QWidget] = {
            "images": self.images, "prompt": self.prompt, "method": self.method,
            "base": self.base, "name": self.name, "steps": self.steps, "seed": self.seed,
            "lr": self.lr, "resolution": self.resolution, "batch_size": self.batch_size,
            "rank": self.rank, "alpha": self.alpha, "train_text_encoder": self.train_text_encoder,
            "class_prompt": self.class_prompt, "class_images": self.class_images,
            "prior_weight": self.prior_weight, "token": self.token,
            "initializer": self.initializer, "checkpoint_every": self.checkpoint_every,
            "sample_every": self.sample_every,
        }  # fmt: skip
        settings = QWidget()
        column = QVBoxLayout(settings)
        column.addLayout(self.form)
        column.addWidget(self.error)
        column.addWidget(self.start_button)
        column.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(settings)
        scroll.setMinimumWidth(FORM_PX)

        self.instances = InstanceImages(self.thumbnails)
        self.run_label = QLabel("no training run yet")
        self.run_label.setWordWrap(True)
        self.curve = LossCurve()
        self.samples = QListWidget()
        self.samples.setViewMode(QListWidget.ViewMode.IconMode)
        self.samples.setIconSize(QSize(SAMPLE_PX, SAMPLE_PX))
        self.samples.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.samples.setMovement(QListWidget.Movement.Static)
        self.samples.setWrapping(True)
        self.samples.setFixedHeight(SAMPLE_PX + 44)
        self.samples.setToolTip("samples drawn during the run (Samples every N steps)")
        self.use_button = QPushButton("Use in Generate")
        self.use_button.setEnabled(False)
        self.use_button.setToolTip("the trained LoRA, embedding or model into the generate panel")
        self.use_button.clicked.connect(self.use_result)
        run = QWidget()
        run_column = QVBoxLayout(run)
        run_column.setContentsMargins(0, 0, 0, 0)
        top = QHBoxLayout()
        top.addWidget(self.run_label, 1)
        top.addWidget(self.use_button)
        run_column.addLayout(top)
        run_column.addWidget(self.curve, 1)
        run_column.addWidget(self.samples)
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(self.instances)
        right.addWidget(run)
        right.setStretchFactor(0, 1)
        right.setStretchFactor(1, 1)
        layout = QHBoxLayout(self)
        layout.addWidget(scroll)
        layout.addWidget(right, 1)

    def reload_models(self) -> None:
        """Base models: demo:sd and the library's SD 1.x/2.x models."""
        current = self.base.currentText() or "demo:sd"
        names = ["demo:sd"]
        try:
            names += [
                v.name for v in self.session.library.models.list() if v.kind in TRAINABLE_KINDS
            ]
        except Exception as exc:  # a locked database: keep the demo model
            self.message.emit(f"could not list the library's models: {exc}")
        self.base.clear()
        self.base.addItems(names)
        self.base.setCurrentText(current)

    # ---- the form ------------------------------------------------------------------------
    @Slot()
    def method_changed(self) -> None:
        """The method's rows and defaults: its steps, batch size, learning rate shown."""
        method = self.method.currentText()
        for key, widget in self._rows.items():
            self.form.setRowVisible(widget, method in METHOD_ROWS[key])
        defaults = METHOD_DEFAULTS[method]
        self.steps.setValue(defaults["steps"])
        self.batch_size.setValue(defaults["batch_size"])
        self.train_text_encoder.setChecked(defaults["train_text_encoder"])
        self.lr.setPlaceholderText(f"{DEFAULT_LR[method]:g} (the method's default)")
        if method == "textual-inversion":
            self.prompt.setPlaceholderText(f"the prompt with the token, e.g. a {DEFAULT_TOKEN} dog")
        else:
            self.prompt.setPlaceholderText("instance prompt with an identifier, e.g. a zxq dog")

    @Slot(str)
    def folder_changed(self, folder: str) -> None:
        self.instances.show_folder(folder, self.prompt.text())
        if folder.strip() and not self.name.text().strip():
            self.name.setPlaceholderText(Path(folder).expanduser().name or "the variant's name")

    @Slot(str)
    def _prompt_changed(self, prompt: str) -> None:
        self.instances.set_prompt(prompt)

    def spec(self) -> TrainingSpec:
        """The run the widgets describe (checked by `submit_training`). BadInput for a
        learning rate that is not a number."""
        method = self.method.currentText()
        lr_text = self.lr.text().strip()
        try:
            lr = float(lr_text) if lr_text else None
        except ValueError:
            raise BadInput("lr", f"{lr_text!r}: expected a number such as 1e-4") from None
        prefs = self.session.prefs
        name = self.name.text().strip() or self._folder_name()
        return TrainingSpec(
            method=method,
            base=self.base.currentText().strip(),
            images=self.images.text().strip(),
            prompt=self.prompt.text().strip(),
            name=name,
            steps=self.steps.value(),
            seed=self.seed.value(),
            class_prompt=(self.class_prompt.text().strip() or None)
            if method == "dreambooth"
            else None,
            token=(self.token.text().strip() or None) if method == "textual-inversion" else None,
            initializer=(self.initializer.text().strip() or None)
            if method == "textual-inversion"
            else None,
            rank=self.rank.value(),
            alpha=(self.alpha.value() or None) if method == "lora" else None,
            lr=lr,
            resolution=self.resolution.value() or None,
            batch_size=self.batch_size.value(),
            train_text_encoder=method != "textual-inversion"
            and self.train_text_encoder.isChecked(),
            prior_weight=self.prior_weight.value(),
            class_images=self.class_images.value() if method == "dreambooth" else 0,
            checkpoint_every=self.checkpoint_every.value(),
            threads=prefs.threads or None,
            device=prefs.device or None,
            sample_every=self.sample_every.value(),
        )

    def _folder_name(self) -> str:
        folder = self.images.text().strip()
        return Path(folder).expanduser().name if folder else ""

    @Slot()
    def start(self) -> Job | None:
        """Check and queue the run; a bad field is marked and nothing is queued."""
        self._clear_marks()
        try:
            spec = self.spec()
            jobs = self.session.library.queue.submit_training(spec, project=self.project())
        except BadInput as exc:
            self.mark_invalid(exc.field, str(exc))
            return None
        except Exception as exc:  # a busy database, an unreadable model
            self.error.setText(f"could not queue: {exc}")
            self.message.emit(f"could not queue: {exc}")
            return None
        self.session.wake_worker()
        job = jobs[-1]  # after the class-image jobs of a DreamBooth run, if it needs any
        self.queued.emit(jobs)
        self.watch(job.id)
        self.message.emit(f"queued job {job.id}: {job.task} {spec.name} on {spec.base}")
        return job

    def mark_invalid(self, field: str, message: str) -> None:
        mark_invalid(self.fields, self.error, field, message)
        self.message.emit(message)

    def _clear_marks(self) -> None:
        clear_marks(self.fields, self.error)

    # ---- watching a run ------------------------------------------------------------------
    def watch(self, job_id: int) -> None:
        """Show this training job: its losses and samples so far (a finished one's from its
        record), its state, and whether its result can be used."""
        self.watched = job_id
        try:
            job = self.session.jobs.get(job_id)
            run = self.session.library.training_runs.for_job(job_id)
        except Exception as exc:  # a busy database: the next event tries again
            self.message.emit(f"could not read job {job_id}: {exc}")
            return
        if job is None or job.kind != "train":
            return
        losses = self.losses.get(job_id, [])
        samples = self.sample_ids.get(job_id, [])
        total = self.totals.get(job_id, job.spec.steps)
        if run is not None:
            recorded = run.record.get("losses") or []
            losses = [(i + 1, float(v)) for i, v in enumerate(recorded)] or losses
            samples = list(run.record.get("samples") or samples)
        elif not losses and job.progress:
            losses = [(int(job.progress["step"]), float(job.progress["loss"]))]
        self.curve.set_points(losses, total)
        self.samples.clear()
        self._add_samples(samples)
        self._show_state(job, run is not None)

    def _show_state(self, job: Job, trained: bool) -> None:
        spec = job.spec
        what = f"job {job.id} \u00b7 {job.task} {spec.name} \u00b7 {job.status}"
        points = self.curve.points  # the watched job's, just shown
        if job.status == "failed" and job.error_message:
            what += f": {job.error_message}"
        elif points:
            step, loss = points[-1]
            what += f" \u00b7 step {step}/{self.curve.total} \u00b7 loss {loss:.4f}"
        self.run_label.setText(what)
        self.use_button.setEnabled(trained)

    @Slot(object)
    def on_started(self, job: Job) -> None:
        if job.kind == "train":
            self.watch(job.id)

    @Slot(object, object)
    def on_training_step(self, job: Job, progress: TrainingProgress) -> None:
        points = self.losses.setdefault(job.id, [])
        while points and points[-1][0] >= progress.step:  # a resumed run goes on from a step
            points.pop()
        points.append((progress.step, progress.loss))
        self.totals[job.id] = progress.total
        if self.watched is None:
            self.watched = job.id
        if job.id == self.watched:
            self.curve.add_point(progress.step, progress.loss, progress.total)
            self.run_label.setText(
                f"job {job.id} \u00b7 {job.task} {job.spec.name} \u00b7 "
                f"{training_text(progress.to_dict())}"
            )

    @Slot(object, list)
    def on_samples(self, job: Job, output_ids: list[int]) -> None:
        self.sample_ids.setdefault(job.id, []).extend(output_ids)
        if job.id == self.watched:
            self._add_samples(output_ids)

    @Slot(object, object)
    def on_done(self, job: Job, outputs: list[Any]) -> None:
        if job.kind != "train":
            return
        self.reload_models()
        self.trained.emit(job.spec.name)
        self.message.emit(f"job {job.id}: trained {job.spec.name} ({job.spec.method})")
        if job.id == self.watched:
            self.watch(job.id)

    def on_stopped(self, job: Job, *_: Any) -> None:
        """Failed, cancelled or paused (connected to the three signals)."""
        if job.kind == "train" and job.id == self.watched:
            self.watch(job.id)

    def _add_samples(self, output_ids: list[int]) -> None:
        for output_id in output_ids:
            try:
                output = self.session.library.runs.get_output(output_id)
            except Exception:  # a busy database: shown when the run is watched again
                continue
            if output is None:
                continue
            item = QListWidgetItem()
            item.setData(Qt.ItemDataRole.UserRole, output.pixel_sha256)
            item.setData(Qt.ItemDataRole.UserRole + 1, output.path)
            item.setData(Qt.ItemDataRole.UserRole + 2, output.id)
            step = _sample_step(output.record_json)
            seed = f"seed {output.seed}"
            item.setText(f"step {step} \u00b7 {seed}" if step else seed)
            item.setToolTip(f"output {output.id}: {output.path}")
            self.samples.addItem(item)
            pixmap = self.thumbnails.get(output.pixel_sha256, output.path)
            if pixmap is not None:
                item.setIcon(QIcon(pixmap))
        if output_ids:
            self.samples.scrollToBottom()

    @Slot(str)
    def _sample_thumbnail(self, key: str) -> None:
        for row in range(self.samples.count()):
            item = self.samples.item(row)
            if item.data(Qt.ItemDataRole.UserRole) == key:
                pixmap = self.thumbnails.get(key, str(item.data(Qt.ItemDataRole.UserRole + 1)))
                if pixmap is not None:
                    item.setIcon(QIcon(pixmap))

    def sample_output_ids(self) -> list[int]:
        return [
            int(self.samples.item(row).data(Qt.ItemDataRole.UserRole + 2))
            for row in range(self.samples.count())
        ]

    # ---- using the result ----------------------------------------------------------------
    @Slot()
    def use_result(self) -> bool:
        """Hand the watched run's variant to the generate panel."""
        if self.watched is None:
            return False
        try:
            run = self.session.library.training_runs.for_job(self.watched)
            variant = self.session.library.models.get(run.variant_name) if run else None
        except Exception as exc:
            self.message.emit(f"could not read the run: {exc}")
            return False
        if run is None or variant is None:
            self.message.emit(f"job {self.watched} has no trained variant (yet)")
            return False
        spec = run.spec
        token = str(spec.get("token") or "") if variant.kind == "embedding" else ""
        self.useTrained.emit(
            variant.name, variant.kind, run.base_name, str(spec.get("prompt", "")), token
        )
        return True


def _sample_step(record_json: str) -> int | None:
    try:
        step = json.loads(record_json).get("training_sample", {}).get("step")
    except (ValueError, AttributeError):
        return None
    return int(step) if isinstance(step, int) else None
