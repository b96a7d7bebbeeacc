"""The history gallery: a virtualised grid of thumbnails, with search and a project filter."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QItemSelection, QSize, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLineEdit,
    QListView,
    QMessageBox,
    QPushButton,
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
EXPORT_FILTER = "CSV (*.csv);;JSON (*.json)"


class HistoryPanel(QWidget):
    outputSelected = Signal(int)
    outputsDeleted = Signal(list)  # the ids
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
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.view.selectionModel().selectionChanged.connect(self._selection_changed)
        top = QHBoxLayout()
        top.addWidget(self.search, 2)
        for combo in (self.project, self.model_filter, self.task_filter, self.since):
            top.addWidget(combo, 1)
        for text, slot in (("Delete", self._delete_clicked), ("Export...", self._export_clicked)):
            button = QPushButton(text)
            button.clicked.connect(slot)
            top.addWidget(button)
        delete = QAction("Delete", self.view)
        delete.setShortcut(QKeySequence.StandardKey.Delete)
        delete.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        delete.triggered.connect(self._delete_clicked)
        self.view.addAction(delete)
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

    def show_project(self, name: str) -> None:
        """Filter the gallery to one project (now, not after the debounce)."""
        self.reload_projects()
        if self.project.findText(name) < 0:
            self.project.addItem(name)  # no outputs yet, maybe not even a row
        self.project.setCurrentText(name)
        self._debounce.stop()
        self.apply_filter()

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

    def selected_output_ids(self) -> list[int]:
        rows = sorted(i.row() for i in self.view.selectionModel().selectedIndexes())
        return [self.model.output(row).id for row in rows]

    # ---- delete and export ---------------------------------------------------------------
    @Slot()
    def _delete_clicked(self) -> None:
        self.delete_selected(confirm=True)

    @Slot()
    def _export_clicked(self) -> None:
        self.export()

    def delete_selected(self, confirm: bool = True) -> list[int]:
        """Delete the selected outputs (rows, lineage, search entries, store files)."""
        ids = self.selected_output_ids()
        if not ids:
            self.message.emit("select the outputs to delete first")
            return []
        if confirm:
            answer = QMessageBox.question(
                self, "Delete outputs", f"Delete {len(ids)} output(s) and their image files?"
            )
            if answer != QMessageBox.StandardButton.Yes:
                return []
        try:
            removed = self.session.library.delete_outputs(ids)
        except Exception as exc:  # a busy database
            self.message.emit(f"could not delete: {exc}")
            return []
        self.view.clearSelection()
        self.model.reload()
        self.outputsDeleted.emit(ids)
        self.message.emit(f"deleted {len(ids)} output(s), {removed} file(s)")
        return ids

    def export(self, path: str | Path | None = None) -> int:
        """Write the selected outputs (none selected: all the filter matches) as CSV or JSON,
        by the file's suffix. Returns how many were written."""
        if path is None:
            chosen, _ = QFileDialog.getSaveFileName(self, "Export history", "", EXPORT_FILTER)
            if not chosen:
                return 0
            path = chosen
        target = Path(path)
        try:
            count = _write_export(target, self._export_outputs())
        except Exception as exc:
            self.message.emit(f"could not export: {exc}")
            return 0
        self.message.emit(f"exported {count} output(s) to {target}")
        return count

    def _export_outputs(self) -> Any:
        ids = set(self.selected_output_ids())
        if ids:
            return (
                self.model.output(r)
                for r in range(self.model.rowCount())
                if self.model.output(r).id in ids
            )
        return self.model.history.iterate(self.model.filter)

    @Slot(QItemSelection, QItemSelection)
    def _selection_changed(self, selected: QItemSelection, _old: QItemSelection) -> None:
        indexes = selected.indexes()
        if indexes:
            self.outputSelected.emit(int(indexes[0].data(OutputIdRole)))

    def wait_for_thumbnails(self, ms: int = 30_000) -> bool:
        return self.thumbnails.wait(ms)


def _write_export(path: Path, outputs: Any) -> int:
    from core.library.history import export_csv, export_row

    count = 0

    def counted() -> Any:
        nonlocal count
        for output in outputs:
            count += 1
            yield output

    with open(path, "w", encoding="utf-8", newline="") as out:
        if path.suffix.lower() == ".json":
            json.dump([export_row(o) for o in counted()], out, indent=1, ensure_ascii=False)
        else:
            out.writelines(export_csv(counted()))
    return count


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
