"""The history gallery's model: outputs newest first, fetched a page at a time."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, QSize, Qt, Slot

from desktop.thumbnails import THUMB_PX

if TYPE_CHECKING:
    from core.library import Library
    from core.library.entities import Output
    from desktop.thumbnails import ThumbnailCache

PAGE = 200
OutputIdRole = Qt.ItemDataRole.UserRole + 1
# Every cell's size, thumbnail or not: the view sizes all cells like the first (uniform item
# sizes), and the newest image's thumbnail is never ready when the gallery reloads.
CELL = QSize(THUMB_PX + 8, THUMB_PX + 36)
Index = QModelIndex | QPersistentModelIndex


class HistoryModel(QAbstractListModel):
    def __init__(self, library: Library, thumbnails: ThumbnailCache) -> None:
        super().__init__()
        from core.library.history import HistoryFilter

        self.library = library
        self.history = library.history
        self.thumbnails = thumbnails
        self.filter = HistoryFilter()
        self._rows: list[Output] = []
        self._row_of: dict[str, list[int]] = {}
        self._more = True
        self.error: str | None = None
        thumbnails.ready.connect(self._thumbnail_ready)

    # ---- filtering ---------------------------------------------------------------------
    def set_filter(
        self,
        text: str | None = None,
        project: str | None = None,
        *,
        model: str | None = None,
        task: str | None = None,
        since: datetime | None = None,
    ) -> None:
        from core.library.history import HistoryFilter

        self.filter = HistoryFilter(
            text=text or None,
            project=project or None,
            model=model or None,
            task=task or None,
            since=since,
        )
        self.reload()

    def reload(self) -> None:
        self.beginResetModel()
        self._rows, self._row_of, self._more, self.error = [], {}, True, None
        self.endResetModel()
        if self.canFetchMore(QModelIndex()):
            self.fetchMore(QModelIndex())

    # ---- lazy paging -------------------------------------------------------------------
    def canFetchMore(self, parent: Index = QModelIndex()) -> bool:  # noqa: B008
        return not parent.isValid() and self._more

    def fetchMore(self, parent: Index = QModelIndex()) -> None:  # noqa: B008
        if parent.isValid() or not self._more:
            return
        try:
            page = self.history.search(self.filter, offset=len(self._rows), limit=PAGE)
        except Exception as exc:  # a bad search text or a busy database
            self.error = str(exc)
            self._more = False
            return
        self._more = len(page) == PAGE
        if not page:
            return
        first = len(self._rows)
        self.beginInsertRows(QModelIndex(), first, first + len(page) - 1)
        for i, output in enumerate(page):
            self._row_of.setdefault(output.pixel_sha256, []).append(first + i)
        self._rows.extend(page)
        self.endInsertRows()

    # ---- reading -----------------------------------------------------------------------
    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def output(self, row: int) -> Output:
        return self._rows[row]

    def row_of_id(self, output_id: int) -> int | None:
        for row, output in enumerate(self._rows):
            if output.id == output_id:
                return row
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        output = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return _caption(output)
        if role == Qt.ItemDataRole.DecorationRole:
            return self.thumbnails.get(output.pixel_sha256, output.path)
        if role == Qt.ItemDataRole.ToolTipRole:
            return _summary(output)
        if role == OutputIdRole:
            return output.id
        if role == Qt.ItemDataRole.SizeHintRole:
            return CELL
        return None

    @Slot(str)
    def _thumbnail_ready(self, key: str) -> None:
        for row in self._row_of.get(key, ()):
            index = self.index(row)
            self.dataChanged.emit(index, index, [Qt.ItemDataRole.DecorationRole])


def _caption(output: Output) -> str:
    """Under a thumbnail: the prompt's first words and the seed (the view elides the rest)."""
    from core.provenance import ProvenanceRecord

    prompt = str(ProvenanceRecord.request_fields(output.record_json).get("prompt", ""))
    words = " ".join(prompt.split()[:4]) or f"#{output.id}"
    return f"{words}\nseed {output.seed}"


def _summary(output: Output) -> str:
    from core.provenance import ProvenanceRecord

    request = ProvenanceRecord.request_fields(output.record_json)
    return (
        f"#{output.id} {request.get('task', '?')} {request.get('model', '?')} "
        f"seed {output.seed}\n{request.get('prompt', '')[:200]}"
    )
