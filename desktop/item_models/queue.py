"""The queue panel's model: one row per job, updated a job at a time from the worker's events.

Running jobs are pinned first; the rest follow in queue order (the order they will run) or
newest first, as the user chooses. A full reload happens only on a reconciliation (the window
regains focus, the user acts on the queue); a job's event changes its own row alone.

A running training job's row shows its step, loss, rate and ETA in place of the prompt: from the
worker's training events, or (a job another process runs) the last progress in the database.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor

if TYPE_CHECKING:
    from core.queue.jobs import Job

COLUMNS = ("Job", "State", "Task", "Model", "Prompt", "Time")
PROMPT_COLUMN = 4
JobIdRole = Qt.ItemDataRole.UserRole
Index = QModelIndex | QPersistentModelIndex
ORDERS = ("queue order", "newest first")  # after the running jobs, pinned first
FAILED = QColor("#d9534f")


class QueueModel(QAbstractTableModel):
    def __init__(self) -> None:
        super().__init__()
        self.jobs: list[Job] = []
        self._row_of: dict[int, int] = {}
        self.newest_first = False
        # the running job's progress: job id -> (done, total, first step's time, its done)
        self.progress: dict[int, tuple[int, int, float, int]] = {}
        # a running training job's last progress from the worker's events (step, total, loss,
        # it_per_s, eta_s); a job not run by this window's worker shows the database's
        self.training: dict[int, dict[str, float]] = {}
        self.pausing: set[int] = set()  # running jobs a person paused: they stop at the next step
        self.resets = 0  # how many full reloads (a test checks one job's event is not one)

    # ---- ordering ------------------------------------------------------------------------
    def _key(self, job: Job) -> tuple[int, int, int]:
        pinned = 0 if job.status == "running" else 1
        if self.newest_first:
            return (pinned, -job.id, 0)
        return (pinned, job.position, job.id)

    def _reindex(self, start: int = 0) -> None:
        for row in range(start, len(self.jobs)):
            self._row_of[self.jobs[row].id] = row

    def _insert_at(self, job: Job) -> int:
        import bisect

        keys = [self._key(j) for j in self.jobs]  # cheap: tuples of ints
        return bisect.bisect_left(keys, self._key(job))

    # ---- changes -------------------------------------------------------------------------
    def reload(self, jobs: list[Job]) -> None:
        """The reconciliation: every job as the database has it now (one model reset)."""
        self.beginResetModel()
        self.jobs = sorted(jobs, key=self._key)
        self._row_of = {}
        self._reindex()
        self.progress = {k: v for k, v in self.progress.items() if k in self._row_of}
        self._forget_stopped()
        self.endResetModel()
        self.resets += 1

    def set_newest_first(self, newest_first: bool) -> None:
        self.newest_first = newest_first
        self.reload(list(self.jobs))

    def update_job(self, job: Job) -> None:
        """One job changed (or is new): its row alone changes, moving if its place did."""
        if job.status != "running":
            self.training.pop(job.id, None)
            self.pausing.discard(job.id)
        row = self._row_of.get(job.id)
        if row is not None:
            old = self.jobs[row]
            if self._key(old) == self._key(job):
                self.jobs[row] = job
                self.dataChanged.emit(self.index(row, 0), self.index(row, len(COLUMNS) - 1))
                return
            self.remove_job(job.id)
        at = self._insert_at(job)
        self.beginInsertRows(QModelIndex(), at, at)
        self.jobs.insert(at, job)
        self._reindex(at)
        self.endInsertRows()

    def remove_job(self, job_id: int) -> None:
        row = self._row_of.pop(job_id, None)
        if row is None:
            return
        self.beginRemoveRows(QModelIndex(), row, row)
        del self.jobs[row]
        self._reindex(row)
        self.endRemoveRows()

    def set_progress(self, job_id: int, done: int, total: int) -> None:
        first = self.progress.get(job_id)
        started = (time.monotonic(), done) if first is None or done < first[3] else first[2:]
        self.progress[job_id] = (done, total, started[0], started[1])
        row = self._row_of.get(job_id)
        if row is not None:
            self.dataChanged.emit(self.index(row, 1), self.index(row, len(COLUMNS) - 1))

    def set_training(self, job_id: int, progress: dict[str, float]) -> None:
        """A training step's progress (`TrainingProgress.to_dict()`): the job's row redraws."""
        self.training[job_id] = dict(progress)
        row = self._row_of.get(job_id)
        if row is not None:
            self.dataChanged.emit(self.index(row, 1), self.index(row, len(COLUMNS) - 1))

    def set_pausing(self, job_id: int) -> None:
        self.pausing.add(job_id)
        row = self._row_of.get(job_id)
        if row is not None:
            self.dataChanged.emit(self.index(row, 1), self.index(row, 1))

    def _forget_stopped(self) -> None:
        running = {job.id for job in self.jobs if job.status == "running"}
        self.training = {k: v for k, v in self.training.items() if k in running}
        self.pausing &= running

    # ---- reading -------------------------------------------------------------------------
    def row_of(self, job_id: int) -> int | None:
        return self._row_of.get(job_id)

    def job_ids(self) -> list[int]:
        return [job.id for job in self.jobs]

    def job(self, job_id: int) -> Job | None:
        row = self._row_of.get(job_id)
        return None if row is None else self.jobs[row]

    def training_progress(self, job: Job) -> dict[str, Any] | None:
        """A running training job's last progress: this window's events, else the database's."""
        if job.kind != "train" or job.status != "running":
            return None
        return self.training.get(job.id) or job.progress

    def text(self, row: int, column: int) -> str:
        return str(self.data(self.index(row, column)) or "")

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.jobs)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = 0) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def flags(self, index: Index) -> Qt.ItemFlag:
        base = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
        if index.isValid():
            return base | Qt.ItemFlag.ItemIsDragEnabled
        return Qt.ItemFlag.ItemIsDropEnabled

    def supportedDropActions(self) -> Qt.DropAction:
        return Qt.DropAction.MoveAction

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self.jobs):
            return None
        job = self.jobs[index.row()]
        column = index.column()
        if role == JobIdRole:
            return job.id
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(job, column)
        if role == Qt.ItemDataRole.ToolTipRole:
            if job.error_message:
                return f"{job.status}: {job.error_message}"
            if job.kind == "train":
                progress = self.training_progress(job)
                line = f"{training_text(progress)}\n" if progress else ""
                return f"{line}{job.spec.name}: {job.work.prompt}"
            return job.work.prompt
        if role == Qt.ItemDataRole.ForegroundRole and job.status == "failed":
            return FAILED
        return None

    def _display(self, job: Job, column: int) -> str:
        if column == 0:
            return str(job.id)
        if column == 1:
            return self._state(job)
        if column == 2:
            return job.task
        if column == 3:
            return job.model
        if column == PROMPT_COLUMN:
            if job.status == "failed":
                return f"\u26a0 {job.error_message}"
            prompt = " ".join(job.work.prompt.split())
            if job.kind == "train":
                progress = self.training_progress(job)
                return training_text(progress) if progress else f"{job.spec.name}: {prompt}"
            return prompt
        return self._times(job)

    def _state(self, job: Job) -> str:
        if job.status == "running":
            if job.cancel_requested:
                return "cancelling"
            if job.id in self.pausing:
                return "pausing"
            if (training := self.training_progress(job)) is not None:
                return f"running {int(training['step'])}/{int(training['total'])}"
            done, total, _, _ = self.progress.get(job.id, (0, 0, 0.0, 0))
            return f"running {done}/{total}" if total else "running"
        return "FAILED" if job.status == "failed" else job.status

    def _times(self, job: Job) -> str:
        from datetime import UTC, datetime

        if job.status != "running" or job.started_at is None:
            if job.started_at is not None and job.finished_at is not None:
                return _duration((job.finished_at - job.started_at).total_seconds())
            return ""
        started = job.started_at if job.started_at.tzinfo else job.started_at.replace(tzinfo=UTC)
        elapsed = max(0.0, (datetime.now(UTC) - started).total_seconds())
        text = _duration(elapsed)
        if (training := self.training_progress(job)) is not None:
            return f"{text}, ETA {_duration(float(training['eta_s']))}"
        done, total, first_at, first_done = self.progress.get(job.id, (0, 0, 0.0, 0))
        if total and done > first_done:
            per_step = (time.monotonic() - first_at) / (done - first_done)
            text += f", ETA {_duration(per_step * (total - done))}"
        return text


def training_text(progress: dict[str, Any]) -> str:
    """A training job's last step: `step 40/200 · loss 0.0731 · 2.5 it/s · ETA 1:16`."""
    rate = float(progress["it_per_s"])
    minutes, seconds = divmod(max(0, round(float(progress["eta_s"]))), 60)
    parts = (
        f"step {int(progress['step'])}/{int(progress['total'])}",
        f"loss {float(progress['loss']):.4f}",
        f"{rate:.1f} it/s" if rate >= 1 else f"{rate:.2f} it/s",
        f"ETA {minutes}:{seconds:02d}",
    )
    return " \u00b7 ".join(parts)


def _duration(elapsed: float) -> str:
    seconds = round(elapsed)
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"
