"""The queue's job list: a view of the queue model whose rows can be dragged to a new place.

A drop does not move the row itself: it reports (job id, target row) and the queue panel asks
the database to move the job, then reads the queue again.
"""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QAbstractItemView, QTreeView, QWidget

from desktop.item_models.queue import JobIdRole

ITEM_FORMAT = "application/x-qabstractitemmodeldatalist"  # what a tree's drag carries


class JobList(QTreeView):
    jobDropped = Signal(int, int)  # job id, the row it was dropped before (len = at the end)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setDragEnabled(True)
        self.setAcceptDrops(True)
        self.setDropIndicatorShown(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.InternalMove)
        self.setDefaultDropAction(Qt.DropAction.MoveAction)
        self.setRootIsDecorated(False)
        self.setUniformRowHeights(True)  # 10,000 rows scroll without measuring each
        self.setAllColumnsShowFocus(True)

    def drop_row(self, pos: QPoint) -> int:
        """The row a drop at `pos` (viewport coordinates) lands before."""
        index = self.indexAt(pos)
        if not index.isValid():
            return int(self.model().rowCount())
        rect = self.visualRect(index)
        row: int = index.row()
        return row + (1 if pos.y() > rect.center().y() else 0)

    def dropEvent(self, event: QDropEvent) -> None:
        current = self.currentIndex()
        source = event.source()  # None when the platform does not tell (offscreen, tests)
        ours = source is self or (source is None and event.mimeData().hasFormat(ITEM_FORMAT))
        if not ours or not current.isValid():
            event.ignore()
            return
        job_id = int(current.data(JobIdRole))
        row = self.drop_row(event.position().toPoint())
        # the view must not move the row: the queue is read again from the database
        event.setDropAction(Qt.DropAction.IgnoreAction)
        event.accept()
        self.jobDropped.emit(job_id, row)
