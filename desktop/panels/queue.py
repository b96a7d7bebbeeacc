"""The queue panel: jobs with their state, the running job's progress and live preview.

Its model changes a row at a time from the worker bridge's events (a job's event re-reads
that one job); the whole queue is read again only when the window regains focus or the user
acts on the queue, and a timer only redraws the running job's elapsed time.

"Pause queue" holds the whole queue; "Pause job" holds the selected job alone (a running training
job checkpoints and goes on from there when resumed with "Resume job").

Below the list, "Workers" shows who runs the jobs: this machine's worker, or with "Run on cluster"
each worker of the cluster, its device and the job it runs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop.item_models.queue import (
    COLUMNS,
    ORDERS,
    PROMPT_COLUMN,
    JobIdRole,
    QueueModel,
    training_text,
)
from desktop.panels.job_list import JobList
from desktop.panels.workers import WorkersView

if TYPE_CHECKING:
    from core.queue.jobs import Job
    from core.training.loop import TrainingProgress
    from desktop.session import Session

PREVIEW_PX = 128
TICK_MS = 1000  # the running job's elapsed time and ETA
MANY_NEW = 50  # more new jobs than this at once: read the queue again instead of row by row
LIMIT = 100_000
HOLDABLE = ("queued", "running", "paused")  # a job "Pause job" / "Resume job" applies to


class QueuePanel(QWidget):
    message = Signal(str)
    outputsReady = Signal(list)  # GeneratedOutput of a finished job
    jobSelected = Signal(int)  # the user selected this job's row

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.running_job: int | None = None
        self._build()
        bridge = session.bridge
        bridge.jobStarted.connect(self.on_started)
        bridge.step.connect(self.on_step)
        bridge.jobDone.connect(self.on_done)
        bridge.jobFailed.connect(self.on_failed)
        bridge.jobCancelled.connect(self.on_cancelled)
        bridge.jobPaused.connect(self.on_paused)
        bridge.trainingStep.connect(self.on_training_step)
        bridge.note.connect(self.on_note)
        bridge.samples.connect(self.on_samples)
        bridge.workers.connect(self.workers.show_workers)
        self._timer = QTimer(self)
        self._timer.timeout.connect(self._tick)
        self._timer.start(TICK_MS)
        self.refresh()

    def _build(self) -> None:
        self.model = QueueModel()
        self.workers = WorkersView()
        self.list = JobList()
        self.list.setModel(self.model)
        self.list.jobDropped.connect(self.move_dropped)
        header = self.list.header()
        for column, width in enumerate((56, 96, 64, 96)):
            self.list.setColumnWidth(column, width)
        header.setSectionResizeMode(PROMPT_COLUMN, QHeaderView.ResizeMode.Stretch)
        header.setStretchLastSection(False)
        self.list.setColumnWidth(len(COLUMNS) - 1, 110)
        self.order = QComboBox()
        self.order.addItems(list(ORDERS))
        self.order.setToolTip("running jobs first, then the queue in this order")
        self.order.currentIndexChanged.connect(self.set_newest_first)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.preview = QLabel("no job running")
        self.preview.setFixedSize(PREVIEW_PX, PREVIEW_PX)
        self.preview.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview.setStyleSheet("background: #222; color: #aaa;")
        self.pause_button = QPushButton("Pause queue")
        self.pause_button.setToolTip("hold the whole queue: no new job starts until resumed")
        self.pause_button.setCheckable(True)
        self.pause_button.toggled.connect(self.set_paused)
        self.hold_button = QPushButton("Pause job")
        self.hold_button.setToolTip(
            "hold the selected job (a running training run checkpoints first); "
            "Resume job puts it back in its place"
        )
        self.hold_button.clicked.connect(self.hold_selected)
        self.hold_button.setEnabled(False)
        self.model.dataChanged.connect(self._selected_changed)
        self.model.modelReset.connect(self._selected_changed)
        self.list.selectionModel().currentChanged.connect(self._selected_changed)
        self.list.selectionModel().currentChanged.connect(self._current_changed)
        buttons = QHBoxLayout()
        for text, slot in (
            ("Cancel", self.cancel_selected), ("Retry", self.retry_selected),
            ("Up", self.move_up), ("Down", self.move_down), ("Clear done", self.clear_done),
        ):  # fmt: skip
            button = QPushButton(text)
            button.clicked.connect(slot)
            buttons.addWidget(button)
        buttons.insertWidget(0, self.pause_button)
        buttons.insertWidget(2, self.hold_button)
        # the running job (preview, progress, the order choice) beside the list: the list
        # keeps the panel's whole height for its rows
        self.progress.setFixedWidth(PREVIEW_PX)
        self.order.setFixedWidth(PREVIEW_PX)
        self.order.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        status = QVBoxLayout()
        status.addWidget(self.preview)
        status.addWidget(self.progress)
        status.addWidget(self.order)
        status.addStretch(1)
        jobs = QVBoxLayout()
        jobs.addWidget(self.list, 1)
        jobs.addLayout(buttons)
        jobs.addWidget(self.workers)
        layout = QHBoxLayout(self)
        layout.addLayout(status)
        layout.addLayout(jobs, 1)

    # ---- reading the queue ---------------------------------------------------------------
    @Slot()
    def refresh(self) -> None:
        """The reconciliation: the whole queue read again (one query, one model reset)."""
        if self.list.state() == JobList.State.DraggingState:
            return  # redrawing now would end the user's drag
        try:
            jobs = self.session.jobs.list(limit=LIMIT)
            paused = self.session.jobs.is_paused()
        except Exception as exc:  # a locked database: the next reconciliation tries again
            self.message.emit(f"queue not readable now: {exc}")
            return
        selected = self.selected_job_id()
        self.model.reload(jobs)
        if selected is not None:
            self.select_job(selected)
        self.pause_button.blockSignals(True)
        self.pause_button.setChecked(paused)
        self.pause_button.setText("Resume queue" if paused else "Pause queue")
        self.pause_button.blockSignals(False)

    def update_job(self, job_id: int) -> None:
        """One job changed: read that job again and change its row alone."""
        try:
            job = self.session.jobs.get(job_id)
        except Exception as exc:
            self.message.emit(f"queue not readable now: {exc}")
            return
        if job is None:
            self.model.remove_job(job_id)
            return
        selected = self.selected_job_id()
        self.model.update_job(job)
        if selected == job_id and self.selected_job_id() != job_id:
            self.select_job(job_id)  # its row moved (pinned or unpinned): still selected

    def add_jobs(self, jobs: list[Any]) -> None:
        """New jobs were queued from this window: their rows, or a reload for many."""
        if len(jobs) > MANY_NEW:
            self.refresh()
            return
        for job in jobs:  # Job rows; a sweep hands its cells' job ids
            if isinstance(job, int):
                self.update_job(job)
            else:
                self.model.update_job(job)

    @Slot()
    def _tick(self) -> None:
        if self.running_job is not None:
            row = self.model.row_of(self.running_job)
            if row is not None:
                last = len(COLUMNS) - 1
                self.model.dataChanged.emit(self.model.index(row, 1), self.model.index(row, last))

    def job_ids(self) -> list[int]:
        return self.model.job_ids()

    def selected_job_id(self) -> int | None:
        index = self.list.currentIndex()
        return None if not index.isValid() else int(index.data(JobIdRole))

    def select_job(self, job_id: int) -> None:
        row = self.model.row_of(job_id)
        if row is not None:
            self.list.setCurrentIndex(self.model.index(row, 0))

    # ---- actions -------------------------------------------------------------------------
    def _act(self, action: Any, *args: Any) -> None:
        try:
            result = action(*args)
        except Exception as exc:  # BadInput (wrong state) or a busy database
            self.message.emit(str(exc))
        else:
            if isinstance(result, str):
                self.message.emit(f"job {args[0]}: {result}")
            self.session.wake_worker()  # a retried job or a resumed queue starts now
        self.refresh()

    @Slot(int)
    def set_newest_first(self, index: int) -> None:
        """Newest first shows the queue backwards: dragging (which places a job by the rows
        above it) is for queue order only; Up and Down work in both."""
        self.model.set_newest_first(index == 1)
        self.list.setDragEnabled(index == 0)

    @Slot(bool)
    def set_paused(self, paused: bool) -> None:
        self._act(self.session.jobs.set_paused, paused)
        self.message.emit("queue paused" if paused else "queue resumed")

    @Slot()
    def hold_selected(self) -> None:
        """Pause the selected job (queued: now; running: at its next step), or resume it."""
        job_id = self.selected_job_id()
        job = self.model.job(job_id) if job_id is not None else None
        if job is None:
            return
        if job.status == "paused":
            self._act(self.session.jobs.resume, job.id)
            self.message.emit(f"job {job.id}: resumed")
            return
        try:
            result = self.session.jobs.pause(job.id)
        except Exception as exc:  # BadInput (done meanwhile) or a busy database
            self.message.emit(str(exc))
            self.refresh()
            return
        self.message.emit(f"job {job.id}: {result}")
        if result == "pausing":
            self.model.set_pausing(job.id)
        self.update_job(job.id)

    @Slot()
    def _selected_changed(self) -> None:
        """The job button follows the selected job: Resume job for a paused one."""
        job_id = self.selected_job_id()
        job = self.model.job(job_id) if job_id is not None else None
        status = job.status if job is not None else ""
        self.hold_button.setEnabled(status in HOLDABLE and job_id not in self.model.pausing)
        self.hold_button.setText("Resume job" if status == "paused" else "Pause job")

    @Slot()
    def _current_changed(self) -> None:
        if (job_id := self.selected_job_id()) is not None:
            self.jobSelected.emit(job_id)

    @Slot()
    def cancel_selected(self) -> None:
        if (job_id := self.selected_job_id()) is not None:
            self._act(self.session.jobs.cancel, job_id)

    @Slot()
    def retry_selected(self) -> None:
        if (job_id := self.selected_job_id()) is not None:
            self._act(self.session.jobs.retry, job_id)

    @Slot()
    def move_up(self) -> None:
        self._move(-1)

    @Slot()
    def move_down(self) -> None:
        self._move(+1)

    @Slot(int, int)
    def move_dropped(self, job_id: int, row: int) -> None:
        """A drag put `job_id` before list row `row`: move it there among the queued jobs."""
        shown = self.job_ids()
        try:
            queued = {j.id for j in self.session.jobs.list(("queued",), limit=10_000)}
        except Exception as exc:
            self.message.emit(str(exc))
            return
        if job_id not in queued:
            self.message.emit(f"job {job_id} is not queued; only queued jobs move")
            self.refresh()
            return
        to = 1 + sum(1 for j in shown[:row] if j in queued and j != job_id)
        self._act(self.session.jobs.move, job_id, to)
        self.select_job(job_id)

    def _move(self, delta: int) -> None:
        job_id = self.selected_job_id()
        if job_id is None:
            return
        try:
            queued = [j.id for j in self.session.jobs.list(("queued",), limit=10_000)]
        except Exception as exc:
            self.message.emit(str(exc))
            return
        if job_id not in queued:
            self.message.emit(f"job {job_id} is not queued; only queued jobs move")
            return
        to = max(1, min(len(queued), queued.index(job_id) + 1 + delta))
        self._act(self.session.jobs.move, job_id, to)
        self.select_job(job_id)

    @Slot()
    def clear_done(self) -> None:
        self._act(self.session.jobs.clear, ("done", "cancelled"))

    # ---- the worker's reports (delivered in the GUI thread) ------------------------------
    @Slot(object)
    def on_started(self, job: Job) -> None:
        self.running_job = job.id
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat(f"job {job.id}: loading %p%")
        self.clear_preview("loading...")
        self.update_job(job.id)

    @Slot(object, int, int, object)
    def on_step(self, job: Job, done: int, total: int, image: QImage | None) -> None:
        self.progress.setRange(0, total)
        self.progress.setValue(done)
        self.progress.setFormat(f"job {job.id}: step {done}/{total}")
        self.model.set_progress(job.id, done, total)
        if image is not None and not image.isNull():
            pixmap = QPixmap.fromImage(image).scaled(
                PREVIEW_PX,
                PREVIEW_PX,
                Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )
            self.preview.setPixmap(pixmap)

    @Slot(object, object)
    def on_done(self, job: Job, outputs: list[Any]) -> None:
        if job.kind == "train":
            self._finished(job, f"job {job.id} done: trained {job.spec.name}")
        else:
            self._finished(job, f"job {job.id} done: {len(outputs)} image(s)")
        self.outputsReady.emit(outputs)

    @Slot(object, str, str)
    def on_failed(self, job: Job, kind: str, message: str) -> None:
        self._finished(job, f"job {job.id} failed: {message}")

    @Slot(object)
    def on_cancelled(self, job: Job) -> None:
        self._finished(job, f"job {job.id} cancelled")

    @Slot(object)
    def on_paused(self, job: Job) -> None:
        self._finished(job, f"job {job.id} paused")

    @Slot(object, object)
    def on_training_step(self, job: Job, progress: TrainingProgress) -> None:
        values = progress.to_dict()
        self.running_job = job.id
        self.progress.setRange(0, max(1, progress.total))
        self.progress.setValue(progress.step)
        self.progress.setFormat(f"job {job.id}: step {progress.step}/{progress.total}")
        self.progress.setToolTip(training_text(values))
        self.model.set_training(job.id, values)
        if self.preview.pixmap().isNull():
            self.preview.setText(f"training\n{job.spec.name}")

    @Slot(object, list)
    def on_samples(self, job: Job, output_ids: list[int]) -> None:
        """A training job drew samples: the first is its preview."""
        try:
            output = self.session.library.runs.get_output(output_ids[0]) if output_ids else None
        except Exception:  # a busy database: the next samples show
            return
        pixmap = QPixmap(output.path) if output is not None else QPixmap()
        if not pixmap.isNull():
            self.preview.setPixmap(
                pixmap.scaled(
                    PREVIEW_PX,
                    PREVIEW_PX,
                    Qt.AspectRatioMode.KeepAspectRatio,
                    Qt.TransformationMode.SmoothTransformation,
                )
            )

    @Slot(object, str)
    def on_note(self, job: Job, text: str) -> None:
        self.message.emit(f"job {job.id}: {text}")

    def _finished(self, job: Job, text: str) -> None:
        self.running_job = None
        self.progress.setFormat(text)
        self.clear_preview("no job running")
        self.message.emit(text)
        self.update_job(job.id)

    def clear_preview(self, text: str) -> None:
        self.preview.clear()
        self.preview.setText(text)
