"""The queue's job list: a tree whose rows can be dragged to a new place.

A drop does not move the row itself: it reports (job id, target row) and the queue panel asks
the database to move the job, then redraws the list from the database.
"""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QAbstractItemView, QTreeWidget, QWidget

JobIdRole = Qt.ItemDataRole.UserRole
ITEM_FORMAT = "application/x-qabstractitemmodeldatalist"  # what a tree's drag carries


class JobList(QTreeWidget):
    jobDropped = Signal(int, int)  # job id, the row it was dropped before (len = at the end)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setDragEnabled(True)
        self.setAcceptDrops(True)
        self.setDropIndicatorShown(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.InternalMove)
        self.setDefaultDropAction(Qt.DropAction.MoveAction)

    def drop_row(self, pos: QPoint) -> int:
        """The row a drop at `pos` (viewport coordinates) lands before."""
        index = self.indexAt(pos)
        if not index.isValid():
            return self.topLevelItemCount()
        rect = self.visualRect(index)
        row: int = index.row()
        return row + (1 if pos.y() > rect.center().y() else 0)

    def dropEvent(self, event: QDropEvent) -> None:
        item = self.currentItem()
        source = event.source()  # None when the platform does not tell (offscreen, tests)
        ours = source is self or (source is None and event.mimeData().hasFormat(ITEM_FORMAT))
        if not ours or item is None:
            event.ignore()
            return
        job_id = int(item.data(0, JobIdRole))
        row = self.drop_row(event.position().toPoint())
        # the tree must not move its item: the list is redrawn from the database
        event.setDropAction(Qt.DropAction.IgnoreAction)
        event.accept()
        self.jobDropped.emit(job_id, row)
