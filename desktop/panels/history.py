"""The history gallery: a virtualised grid of thumbnails, with search and a project filter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
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

from core.request import TASKS
from desktop.item_models.history import HistoryModel, OutputIdRole
from desktop.thumbnails import THUMB_PX, ThumbnailCache

if TYPE_CHECKING:
    from desktop.session import Session

ALL_PROJECTS = "(all projects)"
ALL_MODELS = "(all models)"
ALL_TASKS = "(all tasks)"
# the date filter: label -> how far back (None: any time)
SINCE = {"any time": None, "last 24 hours": 1, "last 7 days": 7, "last 30 days": 30}


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
        self.model_filter = QComboBox()
        self.task_filter = QComboBox()
        self.task_filter.addItems([ALL_TASKS, *TASKS])
        self.since = QComboBox()
        self.since.addItems(list(SINCE))
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(250)
        self._debounce.timeout.connect(self.apply_filter)
        self.search.textChanged.connect(self._debounce.start)
        for combo in (self.project, self.model_filter, self.task_filter, self.since):
            combo.currentTextChanged.connect(self._debounce.start)
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
        for combo in (self.project, self.model_filter, self.task_filter, self.since):
            top.addWidget(combo, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.view, 1)
        self.reload_projects()
        self.model.reload()

    def reload_projects(self) -> None:
        """Refill the project and model filters from the library (keeping the choices)."""
        from core.models.demo import DEMO_MODELS

        library = self.session.library
        try:
            projects = [p.name for p in library.projects.list()]
            models = [*DEMO_MODELS, *(v.name for v in library.models.list())]
        except Exception as exc:
            self.message.emit(f"could not list projects: {exc}")
            projects, models = [], list(DEMO_MODELS)
        _refill(self.project, [ALL_PROJECTS, *projects])
        _refill(self.model_filter, [ALL_MODELS, *models])

    @Slot()
    def apply_filter(self) -> None:
        days = SINCE.get(self.since.currentText())
        self.model.set_filter(
            self.search.text().strip(),
            _chosen(self.project),
            model=_chosen(self.model_filter),
            task=_chosen(self.task_filter),
            since=None if days is None else datetime.now(UTC) - timedelta(days=days),
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


def _refill(combo: QComboBox, items: list[str]) -> None:
    current = combo.currentText()
    combo.blockSignals(True)
    combo.clear()
    combo.addItems(items)
    combo.setCurrentText(current if current in items else items[0])
    combo.blockSignals(False)


def _chosen(combo: QComboBox) -> str | None:
    """The combo's choice, None for its first item ("(all ...)")."""
    return combo.currentText() if combo.currentIndex() > 0 else None
