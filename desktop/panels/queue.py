"""The queue panel: jobs with their state, the running job's progress and live preview."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop.panels.job_list import JobIdRole, JobList

if TYPE_CHECKING:
    from core.queue.jobs import Job
    from desktop.session import Session

COLUMNS = ("Job", "State", "Task", "Model", "Prompt", "Message")
PREVIEW_PX = 128
REFRESH_MS = 1000


class QueuePanel(QWidget):
    message = Signal(str)
    outputsReady = Signal(list)  # GeneratedOutput of a finished job

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
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.refresh)
        self._timer.start(REFRESH_MS)
        self.refresh()

    def _build(self) -> None:
        self.list = JobList()
        self.list.jobDropped.connect(self.move_dropped)
        self.list.setHeaderLabels(list(COLUMNS))
        self.list.setRootIsDecorated(False)
        self.list.setColumnWidth(0, 48)
        self.list.setColumnWidth(1, 72)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.preview = QLabel("no job running")
        self.preview.setFixedSize(PREVIEW_PX, PREVIEW_PX)
        self.preview.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview.setStyleSheet("background: #222; color: #aaa;")
        self.pause_button = QPushButton("Pause")
        self.pause_button.setCheckable(True)
        self.pause_button.toggled.connect(self.set_paused)
        buttons = QHBoxLayout()
        for text, slot in (
            ("Cancel", self.cancel_selected), ("Retry", self.retry_selected),
            ("Up", self.move_up), ("Down", self.move_down), ("Clear done", self.clear_done),
        ):  # fmt: skip
            button = QPushButton(text)
            button.clicked.connect(slot)
            buttons.addWidget(button)
        buttons.insertWidget(0, self.pause_button)
        status = QVBoxLayout()
        status.addWidget(self.progress)
        status.addStretch(1)
        top = QHBoxLayout()
        top.addWidget(self.preview)
        top.addLayout(status, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.list, 1)
        layout.addLayout(buttons)

    # ---- reading the queue ---------------------------------------------------------------
    @Slot()
    def refresh(self) -> None:
        if self.list.state() == JobList.State.DraggingState:
            return  # redrawing now would end the user's drag
        try:
            jobs = self.session.jobs.list(limit=500)
            paused = self.session.jobs.is_paused()
        except Exception as exc:  # a locked database: try again at the next tick
            self.message.emit(f"queue not readable now: {exc}")
            return
        selected = self.selected_job_id()
        self.list.clear()
        for job in jobs:
            item = QTreeWidgetItem(_columns(job))
            item.setData(0, JobIdRole, job.id)
            if job.status == "failed":
                item.setForeground(1, Qt.GlobalColor.red)
                item.setToolTip(5, job.error_message or "")
            self.list.addTopLevelItem(item)
            if job.id == selected:
                item.setSelected(True)
                self.list.setCurrentItem(item)
        self.pause_button.blockSignals(True)
        self.pause_button.setChecked(paused)
        self.pause_button.setText("Resume" if paused else "Pause")
        self.pause_button.blockSignals(False)

    def job_ids(self) -> list[int]:
        root = self.list.invisibleRootItem()
        return [int(root.child(i).data(0, JobIdRole)) for i in range(root.childCount())]

    def selected_job_id(self) -> int | None:
        item = self.list.currentItem()
        return None if item is None else int(item.data(0, JobIdRole))

    def select_job(self, job_id: int) -> None:
        root = self.list.invisibleRootItem()
        for i in range(root.childCount()):
            if int(root.child(i).data(0, JobIdRole)) == job_id:
                self.list.setCurrentItem(root.child(i))

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

    @Slot(bool)
    def set_paused(self, paused: bool) -> None:
        self._act(self.session.jobs.set_paused, paused)
        self.message.emit("queue paused" if paused else "queue resumed")

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
        self.refresh()

    @Slot(object, int, int, object)
    def on_step(self, job: Job, done: int, total: int, image: QImage | None) -> None:
        self.progress.setRange(0, total)
        self.progress.setValue(done)
        self.progress.setFormat(f"job {job.id}: step {done}/{total}")
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
        self._finished(job, f"job {job.id} done: {len(outputs)} image(s)")
        self.outputsReady.emit(outputs)

    @Slot(object, str, str)
    def on_failed(self, job: Job, kind: str, message: str) -> None:
        self._finished(job, f"job {job.id} failed: {message}")

    @Slot(object)
    def on_cancelled(self, job: Job) -> None:
        self._finished(job, f"job {job.id} cancelled")

    def _finished(self, job: Job, text: str) -> None:
        self.running_job = None
        self.progress.setFormat(text)
        self.message.emit(text)
        self.refresh()


def _columns(job: Job) -> list[str]:
    prompt = job.request.prompt.replace("\n", " ")
    message = job.error_message or ("cancelling..." if job.cancel_requested else "")
    return [str(job.id), job.status, job.request.task, job.request.model, prompt[:80], message]
