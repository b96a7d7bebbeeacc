"""The history of outputs: full-text search over prompts, filters, paging, and export.

Prompts and negatives are indexed by SQLite FTS5 (`outputs_fts`, filled by triggers on
`outputs`); model, task, project and date filters run on indexed columns of the outputs.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, column, func, select, table, text
from sqlalchemy.orm import Session, sessionmaker

from core.library.database import read_session
from core.library.entities import Output
from core.library.repositories import fts_query
from core.library.runs import load_outputs, project_clause
from core.library.schema import OutputRow

EXPORT_COLUMNS = (
    "output_id", "created_at", "project", "task", "model", "seed", "prompt", "negative_prompt",
    "steps", "cfg_scale", "scheduler", "width", "height", "strength", "path", "pixel_sha256",
)  # fmt: skip


@dataclass(frozen=True)
class HistoryFilter:
    text: str | None = None
    model: str | None = None
    task: str | None = None
    project: str | None = None
    since: datetime | None = None

    def clauses(self) -> list[ColumnElement[bool]]:
        where: list[ColumnElement[bool]] = []
        if self.text and self.text.strip():
            match = fts_query(self.text)
            fts = table("outputs_fts", column("rowid"))
            matching = select(fts.c.rowid).where(text("outputs_fts MATCH :q").bindparams(q=match))
            where.append(OutputRow.id.in_(matching))
        if self.task:
            where.append(OutputRow.task == self.task)
        if self.model:
            where.append(OutputRow.model == self.model)
        if self.project:
            where.append(project_clause(self.project))
        if self.since is not None:
            where.append(OutputRow.created_at >= self.since)
        return where


class History:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def search(self, flt: HistoryFilter, offset: int = 0, limit: int = 50) -> list[Output]:
        """A page of matching outputs, newest first."""
        with read_session(self._sessions) as s:
            return load_outputs(s, where=flt.clauses(), offset=offset, limit=limit)

    def count(self, flt: HistoryFilter) -> int:
        query = select(func.count()).select_from(OutputRow).where(*flt.clauses())
        with read_session(self._sessions) as s:
            return int(s.scalar(query) or 0)

    def iterate(self, flt: HistoryFilter, page: int = 500) -> Iterator[Output]:
        """Every matching output, a page at a time (a big history is never loaded at once)."""
        offset = 0
        while batch := self.search(flt, offset, page):
            yield from batch
            offset += len(batch)


def export_row(output: Output) -> dict[str, Any]:
    from core.provenance import ProvenanceRecord

    request = ProvenanceRecord.request_fields(output.record_json)
    row: dict[str, Any] = {
        "output_id": output.id,
        "created_at": output.created_at.isoformat(),
        "project": output.project,
        "seed": output.seed,
        "path": output.path,
        "pixel_sha256": output.pixel_sha256,
    }
    for key in EXPORT_COLUMNS:
        if key not in row:
            row[key] = request.get(key)
    return row


def export_csv(outputs: Iterator[Output]) -> Iterator[str]:
    """CSV text, a line at a time, with a header."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=EXPORT_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for output in outputs:
        writer.writerow(export_row(output))
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()
