"""The generation panel: every field of a request, checked before it is queued."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from core.errors import BadInput
from core.request import TASKS, TASKS_WITH_INIT, EmbeddingRef, GenerationRequest
from desktop.panels.fields import (
    IMAGE_FILTER,
    FileField,
    LoraList,
    ProjectCombo,
    clear_marks,
    dspin_box,
    mark_invalid,
    spin_box,
)

if TYPE_CHECKING:
    from desktop.session import Session

VAE_FILTER = "VAE weights (*.safetensors);;All files (*)"
EMBEDDING_FILTER = "Textual inversions (*.safetensors *.pt *.bin);;All files (*)"
# the rows only some tasks use -> those tasks
TASK_FIELDS: dict[str, tuple[str, ...]] = {
    "size": ("text2img", "img2img", "inpaint", "depth"),
    "init_image": TASKS_WITH_INIT,
    "mask": ("inpaint",),
    "mask_blur": ("inpaint",),
    "depth_map": ("depth",),
    "strength": ("img2img", "inpaint", "depth"),
    "noise_level": ("upscale",),
    "refiner": ("text2img", "img2img"),
}

QUEUE_MANY = 4
TRAINED_LORA_WEIGHT = 0.8  # a freshly trained LoRA's weight in "Use in Generate"
# the demo model for each task, picked when an output is sent to that task
DEMO_FOR_TASK = {
    "img2img": "demo:sd", "inpaint": "demo:sd-inpaint", "upscale": "demo:sd-upscale",
    "depth": "demo:sd-depth",
}  # fmt: skip


class GeneratePanel(QWidget):
    queued = Signal(list)  # the new jobs
    depthChanged = Signal(str, str)  # task, the depth map ("" when the model estimates it)
    message = Signal(str)
    sweepRequested = Signal()

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self._kept_embeddings: tuple[EmbeddingRef, ...] = ()
        self._build()
        self.reload_models()
        self.reload_projects()

    # ---- widgets -------------------------------------------------------------------------
    def _build(self) -> None:
        from core.engine.schedulers import SCHEDULERS

        self.project = ProjectCombo()
        self.project.setToolTip("the project new jobs, sweeps and folder batches go into")
        self.task = QComboBox()
        self.task.addItems(list(TASKS))
        self.model = QComboBox()
        self.model.setEditable(True)
        self.prompt = QPlainTextEdit()
        self.prompt.setPlaceholderText("prompt")
        self.prompt.setFixedHeight(64)
        self.negative = QPlainTextEdit()
        self.negative.setPlaceholderText("negative prompt")
        self.negative.setFixedHeight(40)
        for box in (self.prompt, self.negative):
            box.setTabChangesFocus(True)  # Tab moves on; a prompt never needs a tab character
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.random_seed = QCheckBox("random")
        self.random_seed.setChecked(True)
        self.random_seed.toggled.connect(self._seed_mode)
        self.seed.setEnabled(False)
        self.steps = spin_box(0, 1000, 0, "model default")
        self.cfg = QDoubleSpinBox()
        self.cfg.setRange(-1.0, 200.0)
        self.cfg.setSingleStep(0.5)
        self.cfg.setSpecialValueText("model default")
        self.cfg.setValue(-1.0)
        self.width_ = spin_box(0, 8192, 0, "default", step=8)
        self.height_ = spin_box(0, 8192, 0, "default", step=8)
        self.scheduler = QComboBox()
        self.scheduler.addItems(["(model default)", "default", *SCHEDULERS])
        self.strength = dspin_box(0.0, 1.0, 0.75, 0.05)
        self.noise_level = spin_box(0, 1000, 20, None)
        self.init_image = QLineEdit()
        self.init_image.setPlaceholderText("init image: file, output:ID or sha256:HEX")
        self.mask_ref = QLineEdit()
        self.mask_ref.setPlaceholderText("mask (paint one on the canvas)")
        self.depth_map = FileField("depth map (else estimated by the model)", IMAGE_FILTER)
        self.loras = LoraList()
        self.task.currentTextChanged.connect(self._depth_changed)
        self.depth_map.textChanged.connect(self._depth_changed)
        self.refiner = QComboBox()
        self.refiner.setEditable(True)
        self.high_noise_frac = dspin_box(0.0, 1.0, 0.8, 0.05)
        self.high_noise_frac.setPrefix("hand-off at ")
        self.high_noise_frac.setToolTip(
            "the fraction of the steps the base model runs before the refiner takes over"
        )
        self.mask_blur = spin_box(0, 64, 0, "none")
        self.mask_blur.setSuffix(" px")
        self.clip_skip = spin_box(0, 12, 0, "model default")
        self.vae = FileField("VAE file (else the model's own)", VAE_FILTER)
        self.embedding = FileField("textual inversion file", EMBEDDING_FILTER)
        self.batch_count = spin_box(1, 100, 1, None)
        self.batch_size = spin_box(1, 16, 1, None)
        self.error = QLabel()
        self.error.setStyleSheet("color: #d9534f;")
        self.error.setWordWrap(True)
        self.queue_button = QPushButton("Queue")
        self.queue_many_button = QPushButton(f"Queue x{QUEUE_MANY}")
        self.queue_button.clicked.connect(self._queue_one)
        self.queue_many_button.clicked.connect(self._queue_many)
        self.sweep_button = QPushButton("Sweep...")
        self.sweep_button.clicked.connect(self.sweepRequested)

        seed_row = QHBoxLayout()
        seed_row.addWidget(self.seed, 1)
        seed_row.addWidget(self.random_seed)
        size_row = QHBoxLayout()
        size_row.addWidget(self.width_)
        size_row.addWidget(QLabel("x"))
        size_row.addWidget(self.height_)
        refiner_row = QHBoxLayout()
        refiner_row.addWidget(self.refiner, 1)
        refiner_row.addWidget(self.high_noise_frac)
        form = QFormLayout()
        self.form = form
        self._rows: dict[str, QWidget | QHBoxLayout] = {}
        for label, key, item in (
            ("Project", "", self.project), ("Task", "", self.task), ("Model", "", self.model),
            ("Prompt", "", self.prompt), ("Negative", "", self.negative), ("Seed", "", seed_row),
            ("Steps", "", self.steps), ("CFG", "", self.cfg), ("Size", "size", size_row),
            ("Scheduler", "", self.scheduler), ("Init image", "init_image", self.init_image),
            ("Mask", "mask", self.mask_ref), ("Mask blur", "mask_blur", self.mask_blur),
            ("Depth map", "depth_map", self.depth_map), ("Strength", "strength", self.strength),
            ("Noise level", "noise_level", self.noise_level),
            ("Refiner", "refiner", refiner_row), ("LoRAs", "", self.loras),
            ("Embedding", "", self.embedding), ("VAE", "", self.vae),
            ("Clip skip", "", self.clip_skip), ("Batch count", "", self.batch_count),
            ("Batch size", "", self.batch_size),
        ):  # fmt: skip
            form.addRow(label, item)
            if key:
                self._rows[key] = item
        self.task.currentTextChanged.connect(self.show_task_fields)
        for box in (self.width_, self.height_):
            box.valueChanged.connect(self._size_changed)
        self.model.currentTextChanged.connect(self._size_changed)
        buttons = QHBoxLayout()
        buttons.addWidget(self.queue_button)
        buttons.addWidget(self.queue_many_button)
        buttons.addWidget(self.sweep_button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addLayout(buttons)
        layout.addStretch(1)
        self._fields: dict[str, QWidget] = {
            "task": self.task, "model": self.model, "prompt": self.prompt,
            "negative_prompt": self.negative, "seed": self.seed, "steps": self.steps,
            "cfg_scale": self.cfg, "width": self.width_, "height": self.height_,
            "scheduler": self.scheduler, "init_image": self.init_image, "mask": self.mask_ref,
            "depth_map": self.depth_map, "loras": self.loras, "strength": self.strength,
            "noise_level": self.noise_level,
            "refiner": self.refiner, "high_noise_frac": self.high_noise_frac,
            "batch_count": self.batch_count, "batch_size": self.batch_size,
            "mask_blur": self.mask_blur, "clip_skip": self.clip_skip, "vae": self.vae,
            "embeddings": self.embedding,
        }  # fmt: skip
        self.warning = QLabel()
        self.warning.setStyleSheet("color: #c27c0e;")
        self.warning.setWordWrap(True)
        layout.insertWidget(2, self.warning)
        self.model.currentTextChanged.connect(self.show_task_fields)
        self.show_task_fields()

    def reload_models(self) -> None:
        from core.models.demo import DEMO_MODELS

        current = self.model.currentText() or "demo:sd"
        names = list(DEMO_MODELS)
        try:
            names += [v.name for v in self.session.library.models.list()]
        except Exception as exc:  # a locked database: keep the demo models
            self.message.emit(f"could not list the library's models: {exc}")
        self.model.clear()
        self.model.addItems(names)
        self.model.setCurrentText(current)
        self.refiner.clear()
        self.refiner.addItems(["", *names])

    def reload_projects(self) -> None:
        error = self.project.reload(self.session.library)
        if error:
            self.message.emit(f"could not list the projects: {error}")

    @Slot()
    def show_task_fields(self) -> None:
        """Only the rows the task uses (text2img has no strength, depth map or noise level;
        the refiner shows for an SDXL model)."""
        task = self.task.currentText()
        sdxl = self.model_kind() == "sdxl"
        for key, item in self._rows.items():
            shown = task in TASK_FIELDS[key] and (key != "refiner" or sdxl)
            self.form.setRowVisible(item, shown)

    def model_kind(self) -> str | None:
        from core.models.demo import demo_kind

        name = self.model.currentText().strip()
        if (kind := demo_kind(name)) is not None:
            return kind
        try:
            variant = self.session.library.models.get(name)
        except Exception:  # a busy database: unknown for now
            return None
        return variant.kind if variant is not None else None

    def native_size(self) -> int | None:
        from core.sizes import native_size

        return native_size(self.model.currentText().strip(), self.model_kind())

    @Slot()
    def _size_changed(self) -> None:
        """The warning above twice the model's size shows as the size is typed."""
        from core.sizes import check_size

        try:
            text = check_size(self.width_.value(), self.height_.value(), self.native_size())
        except BadInput as exc:
            text = str(exc)
        self.warning.setText(text or "")

    @Slot()
    def _depth_changed(self) -> None:
        self.depthChanged.emit(self.task.currentText(), self.depth_map.text().strip())

    @Slot(bool)
    def _seed_mode(self, random: bool) -> None:
        self.seed.setEnabled(not random)

    # ---- request <-> widgets -------------------------------------------------------------
    def request(self) -> GenerationRequest:
        """The request the widgets describe (not yet validated)."""
        scheduler = self.scheduler.currentText()
        return GenerationRequest(
            task=self.task.currentText(),
            model=self.model.currentText().strip(),
            prompt=self.prompt.toPlainText(),
            negative_prompt=self.negative.toPlainText(),
            seed=None if self.random_seed.isChecked() else self.seed.value(),
            steps=self.steps.value() or None,
            cfg_scale=None if self.cfg.value() < 0 else self.cfg.value(),
            width=self.width_.value() or None,
            height=self.height_.value() or None,
            scheduler=None if scheduler.startswith("(") else scheduler,
            init_image=self._used("init_image", self.init_image.text()),
            mask=self._used("mask", self.mask_ref.text()),
            depth_map=self._used("depth_map", self.depth_map.text()),
            loras=self.loras.loras(),
            strength=self.strength.value(),
            noise_level=self.noise_level.value(),
            refiner=self._used("refiner", self.refiner.currentText()),
            high_noise_frac=self.high_noise_frac.value(),
            batch_count=self.batch_count.value(),
            batch_size=self.batch_size.value(),
            mask_blur=self.mask_blur.value(),
            clip_skip=self.clip_skip.value() or None,
            vae=self.vae.text().strip() or None,
            embeddings=self._embeddings(),
        )

    def set_request(self, request: GenerationRequest) -> None:
        """Fill the widgets from a request (use these settings, an imported image...)."""
        self.task.setCurrentText(request.task)
        self.model.setCurrentText(request.model)
        self.prompt.setPlainText(request.prompt)
        self.negative.setPlainText(request.negative_prompt)
        self.random_seed.setChecked(request.seed is None)
        if request.seed is not None:
            self.seed.setValue(min(request.seed, self.seed.maximum()))
        self.steps.setValue(request.steps or 0)
        self.cfg.setValue(-1.0 if request.cfg_scale is None else request.cfg_scale)
        self.width_.setValue(request.width or 0)
        self.height_.setValue(request.height or 0)
        self.scheduler.setCurrentText(request.scheduler or "(model default)")
        self.init_image.setText(request.init_image or "")
        self.mask_ref.setText(request.mask or "")
        self.depth_map.setText(request.depth_map or "")
        self.loras.set_loras(request.loras)
        self.strength.setValue(request.strength)
        self.noise_level.setValue(request.noise_level)
        self.refiner.setCurrentText(request.refiner or "")
        self.high_noise_frac.setValue(request.high_noise_frac)
        self.batch_count.setValue(request.batch_count)
        self.batch_size.setValue(request.batch_size)
        self.mask_blur.setValue(request.mask_blur)
        self.clip_skip.setValue(request.clip_skip or 0)
        self.vae.setText(request.vae or "")
        self._kept_embeddings = tuple(request.embeddings)
        self.embedding.setText(request.embeddings[0].path if request.embeddings else "")
        self._clear_marks()

    def _used(self, key: str, text: str) -> str | None:
        """A row's text if the task shows that row: a hidden field never fails a request."""
        return text.strip() or None if self.form.isRowVisible(self._rows[key]) else None

    def _embeddings(self) -> tuple[EmbeddingRef, ...]:
        """The embedding field's file; an imported request's others are kept as they were."""
        path = self.embedding.text().strip()
        kept = self._kept_embeddings
        if kept and kept[0].path == path:
            return kept
        return (EmbeddingRef(path),) if path else ()

    def set_input(self, task: str, init_image: str, mask: str | None = None) -> None:
        self.task.setCurrentText(task)
        self.init_image.setText(init_image)
        self.mask_ref.setText(mask or "")
        if task != "depth":
            self.depth_map.setText("")
        if task == "upscale":  # its size is four times the input's; a size left set fails it
            self.width_.setValue(0)
            self.height_.setValue(0)
        demo = DEMO_FOR_TASK.get(task)
        if demo and self.model.currentText().startswith("demo:"):
            self.model.setCurrentText(demo)

    def use_trained(self, name: str, kind: str, base: str, prompt: str, token: str = "") -> None:
        """A trained variant, ready to generate with: a LoRA joins the LoRA list at 0.8, an
        embedding becomes the embedding (its token in the prompt), both on the model they were
        trained on; a DreamBooth model is selected as the model. An empty prompt gets the
        instance prompt."""
        self.reload_models()
        if kind == "lora":
            if name not in [lora.path for lora in self.loras.loras()]:
                self.loras.add_lora(name, TRAINED_LORA_WEIGHT)
            self.model.setCurrentText(base)
        elif kind == "embedding":
            self._kept_embeddings = ()
            self.embedding.setText(name)
            self.model.setCurrentText(base)
        else:
            self.model.setCurrentText(name)
        text = self.prompt.toPlainText().strip()
        if not text:
            self.prompt.setPlainText(prompt)
        elif token and token not in text:
            self.prompt.setPlainText(f"{token} {text}")
        self._clear_marks()

    # ---- checking and queueing -----------------------------------------------------------
    def check(self) -> GenerationRequest | None:
        """The request if valid; else the bad field is marked and the reason shown."""
        self._clear_marks()
        from core.sizes import check_size

        request = self.request()
        try:
            request.validate()
            self.warning.setText(
                check_size(request.width, request.height, self.native_size()) or ""
            )
        except BadInput as exc:
            self.mark_invalid(exc.field, str(exc))
            return None
        return request

    def mark_invalid(self, field: str, message: str) -> None:
        mark_invalid(self._fields, self.error, field, message)
        self.message.emit(message)

    def _clear_marks(self) -> None:
        clear_marks(self._fields, self.error)

    def queue_jobs(self, copies: int = 1) -> list[Any]:
        """Check and queue; returns the new jobs ([] when the input is bad)."""
        request = self.check()
        if request is None:
            return []
        try:
            jobs = self.session.queue(request, copies, project=self.project.current())
        except BadInput as exc:
            self.mark_invalid(exc.field, str(exc))
            return []
        except Exception as exc:  # a busy database: say so, keep the window alive
            self.error.setText(f"could not queue: {exc}")
            self.message.emit(f"could not queue: {exc}")
            return []
        self.queued.emit(jobs)
        self.message.emit(f"queued {len(jobs)} job(s)")
        return jobs

    @Slot()
    def _queue_one(self) -> None:
        self.queue_jobs(1)

    @Slot()
    def _queue_many(self) -> None:
        self.queue_jobs(QUEUE_MANY)
