"""The history gallery: a virtualised grid of thumbnails, with search and a project filter."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QItemSelection, QSize, QTimer, Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLineEdit,
    QListView,
    QVBoxLayout,
    QWidget,
)

from desktop.item_models.history import HistoryModel, OutputIdRole
from desktop.thumbnails import THUMB_PX, ThumbnailCache

if TYPE_CHECKING:
    from desktop.session import Session

ALL_PROJECTS = "(all projects)"


class HistoryPanel(QWidget):
    outputSelected = Signal(int)
    message = Signal(str)

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.thumbnails = ThumbnailCache(session.home / "thumbnails", self)
        self.model = HistoryModel(session.library, self.thumbnails)
        self.search = QLineEdit()
        self.search.setPlaceholderText("search prompts...")
        self.search.setClearButtonEnabled(True)
        self.project = QComboBox()
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(250)
        self._debounce.timeout.connect(self.apply_filter)
        self.search.textChanged.connect(self._debounce.start)
        self.project.currentTextChanged.connect(self._debounce.start)
        self.view = QListView()
        self.view.setViewMode(QListView.ViewMode.IconMode)
        self.view.setResizeMode(QListView.ResizeMode.Adjust)
        self.view.setMovement(QListView.Movement.Static)
        self.view.setUniformItemSizes(True)
        self.view.setIconSize(QSize(THUMB_PX, THUMB_PX))
        self.view.setGridSize(QSize(THUMB_PX + 16, THUMB_PX + 28))
        self.view.setLayoutMode(QListView.LayoutMode.Batched)
        self.view.setBatchSize(200)
        self.view.setModel(self.model)
        self.view.selectionModel().selectionChanged.connect(self._selection_changed)
        top = QHBoxLayout()
        top.addWidget(self.search, 2)
        top.addWidget(self.project, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.view, 1)
        self.reload_projects()
        self.model.reload()

    def reload_projects(self) -> None:
        current = self.project.currentText()
        try:
            names = [p.name for p in self.session.library.projects.list()]
        except Exception as exc:
            self.message.emit(f"could not list projects: {exc}")
            names = []
        self.project.blockSignals(True)
        self.project.clear()
        self.project.addItems([ALL_PROJECTS, *names])
        self.project.setCurrentText(current or ALL_PROJECTS)
        self.project.blockSignals(False)

    @Slot()
    def apply_filter(self) -> None:
        project = self.project.currentText()
        self.model.set_filter(
            self.search.text().strip(), None if project == ALL_PROJECTS else project
        )
        if self.model.error:
            self.message.emit(f"search: {self.model.error}")

    @Slot()
    def refresh(self) -> None:
        """New outputs arrived: reload the first page, keeping the selection if shown."""
        selected = self.selected_output_id()
        self.reload_projects()
        self.model.reload()
        if selected is not None:
            self.select_output(selected)

    def selected_output_id(self) -> int | None:
        index = self.view.currentIndex()
        return int(index.data(OutputIdRole)) if index.isValid() else None

    def select_output(self, output_id: int) -> bool:
        row = self.model.row_of_id(output_id)
        if row is None:
            return False
        self.view.setCurrentIndex(self.model.index(row))
        return True

    @Slot(QItemSelection, QItemSelection)
    def _selection_changed(self, selected: QItemSelection, _old: QItemSelection) -> None:
        indexes = selected.indexes()
        if indexes:
            self.outputSelected.emit(int(indexes[0].data(OutputIdRole)))

    def wait_for_thumbnails(self, ms: int = 30_000) -> bool:
        return self.thumbnails.wait(ms)
