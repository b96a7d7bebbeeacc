"""The queue panel's "Workers" list: who runs the queue's jobs, on which device, and which job.

A cluster head tells each of its actors (its machine and Ray node, its device, the job it
runs); a local worker tells itself as one worker of this machine. The list follows the worker
bridge's `workers` signal and never reads the database.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Slot
from PySide6.QtWidgets import QTreeWidget, QTreeWidgetItem, QWidget

if TYPE_CHECKING:
    from core.queue.worker import WorkerStatus

COLUMNS = ("Worker", "Device", "Job")
ROW_PX = 22  # the list's height: a few rows, scrolling beyond


class WorkersView(QTreeWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setColumnCount(len(COLUMNS))
        self.setHeaderLabels(list(COLUMNS))
        self.setRootIsDecorated(False)
        self.setUniformRowHeights(True)
        self.setColumnWidth(0, 260)
        self.setColumnWidth(1, 70)
        self.setMaximumHeight(ROW_PX * 4)
        self.setToolTip("who runs the queue's jobs: this machine, or each worker of the cluster")

    @Slot(list)
    def show_workers(self, workers: list[WorkerStatus]) -> None:
        self.clear()
        for worker in workers:
            job = f"job {worker.job_id}" if worker.job_id is not None else "idle"
            self.addTopLevelItem(QTreeWidgetItem([worker.node, worker.device, job]))

    def rows(self) -> list[tuple[str, str, str]]:
        """What the list shows, row by row (worker, device, job)."""
        return [
            (item.text(0), item.text(1), item.text(2))
            for item in (self.topLevelItem(i) for i in range(self.topLevelItemCount()))
            if item is not None
        ]
