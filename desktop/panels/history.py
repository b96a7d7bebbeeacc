"""The history gallery: a virtualised grid of thumbnails, with search and a project filter."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QItemSelection, QModelIndex, QSize, Qt, QTimer, Signal, Slot
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
    QSizePolicy,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from core.request import TASKS
from desktop.item_models.history import HistoryModel, OutputIdRole
from desktop.thumbnails import THUMB_PX, ThumbnailCache
from desktop.viewer import ImageView, ViewerWindow, input_path

if TYPE_CHECKING:
    from desktop.session import Session

ALL_PROJECTS = "(all projects)"
ALL_MODELS = "(all models)"
ALL_TASKS = "(all tasks)"
# the date filter: label -> how far back (None: any time)
SINCE = {"any time": None, "last 24 hours": 1, "last 7 days": 7, "last 30 days": 30}
EXPORT_FILTER = "CSV (*.csv);;JSON (*.json)"
SEARCH_MIN_PX = 160


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
        self.search.setMinimumWidth(SEARCH_MIN_PX)
        self.project = QComboBox()
        self.model_filter = QComboBox()
        self.task_filter = QComboBox()
        self.since = QComboBox()
        for combo in (self.project, self.model_filter, self.task_filter, self.since):
            # long project and model names must not squeeze the search box
            combo.setSizeAdjustPolicy(
                QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
            )
            combo.setMinimumContentsLength(8)
            combo.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self.task_filter.addItems([ALL_TASKS, *TASKS])
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
        self.view.setGridSize(QSize(THUMB_PX + 16, THUMB_PX + 42))
        self.view.setLayoutMode(QListView.LayoutMode.Batched)
        self.view.setBatchSize(200)
        self.view.setModel(self.model)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.view.selectionModel().selectionChanged.connect(self._selection_changed)
        self.view.doubleClicked.connect(lambda index: self.open_viewer())
        self.large = ImageView()  # the selected output, large (fit; wheel zooms, drag pans)
        self.large.setToolTip("the selected output: wheel zooms, drag pans, double-click opens")
        self.large.doubleClicked.connect(self.open_viewer)
        self.viewer: ViewerWindow | None = None
        top = QHBoxLayout()  # the search box, then (a row below) the filters
        top.addWidget(self.search, 1)
        filters = QHBoxLayout()
        for combo in (self.project, self.model_filter, self.task_filter, self.since):
            filters.addWidget(combo, 1)
        for text, slot in (("Delete", self._delete_clicked), ("Export...", self._export_clicked)):
            button = QPushButton(text)
            button.clicked.connect(slot)
            top.addWidget(button)
        delete = QAction("Delete", self.view)
        delete.setShortcut(QKeySequence.StandardKey.Delete)
        delete.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        delete.triggered.connect(self._delete_clicked)
        self.view.addAction(delete)
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.setObjectName("history-splitter")
        self.splitter.addWidget(self.large)
        self.splitter.addWidget(self.view)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.setSizes([360, 240])
        self.view.setMinimumHeight(THUMB_PX + 40)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(filters)
        layout.addWidget(self.splitter, 1)
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
            output_id = int(indexes[0].data(OutputIdRole))
            row = self.model.row_of_id(output_id)
            if row is not None:
                self.large.show_file(self.model.output(row).path)
            self.outputSelected.emit(output_id)

    def select_newest(self) -> int | None:
        """Select (and so show large) the newest output the gallery lists."""
        if self.model.rowCount() == 0:
            return None
        self.view.clearSelection()
        self.view.setCurrentIndex(self.model.index(0))
        return self.selected_output_id()

    # ---- the viewer window -----------------------------------------------------------------
    def open_viewer(self) -> ViewerWindow | None:
        """The selected output in the zoomable viewer window (double-click a thumbnail)."""
        output_id = self.selected_output_id()
        found = None if output_id is None else self._viewer_item(output_id, 0)
        if found is None:
            return None
        if self.viewer is None:
            self.viewer = ViewerWindow(self._viewer_item, self)
        self.viewer.show_output(*found)
        self.viewer.show()
        self.viewer.raise_()
        self.viewer.activateWindow()
        return self.viewer

    def _viewer_item(self, output_id: int, delta: int) -> tuple[int, str, str | None] | None:
        """The output `delta` rows from `output_id` in the gallery (selected there too)."""
        row = self.model.row_of_id(output_id)
        if row is None:
            return None
        row += delta
        while row >= self.model.rowCount() and self.model.canFetchMore(QModelIndex()):
            self.model.fetchMore(QModelIndex())
        if not 0 <= row < self.model.rowCount():
            return None
        output = self.model.output(row)
        if delta:
            self.view.setCurrentIndex(self.model.index(row))
        return output.id, output.path, input_path(self.session.library, output.record_json)

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
