"""Folder batches and X/Y grids as the library keeps them: the rows behind `core.queue.batch`
and `core.queue.sweep`, handed back as plain data."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core.library.database import read_session
from core.library.schema import BatchFileRow, BatchRow, GridRow


@dataclass(frozen=True)
class BatchSettings:
    """What a batch row holds beside its key (folder, pattern, output folder)."""

    template_json: str
    masks_dir: str | None
    depth_dir: str | None
    prompt_from: str | None
    project: str
    watch: bool


@dataclass(frozen=True)
class TakenFile:
    path: str
    size: int
    mtime_ns: int
    job_id: int


@dataclass(frozen=True)
class GridRecord:
    id: int
    spec: dict[str, Any]  # {"x": axis, "y": axis or None}
    job_ids: tuple[tuple[int, ...], ...]  # rows (y) of cells (x)
    project: str
    out_dir: str | None
    out_path: str | None


class BatchRepository:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def open(self, input_dir: str, pattern: str, out_dir: str, settings: BatchSettings) -> int:
        """The id of the batch with this key, made now or updated with `settings`."""
        with self._sessions.begin() as s:
            row = s.scalars(
                select(BatchRow).where(
                    BatchRow.input_dir == input_dir,
                    BatchRow.pattern == pattern,
                    BatchRow.out_dir == out_dir,
                )
            ).first()
            if row is None:
                row = BatchRow(
                    input_dir=input_dir, pattern=pattern, out_dir=out_dir, project=settings.project
                )
                s.add(row)
            row.template_json = settings.template_json
            row.masks_dir, row.depth_dir = settings.masks_dir, settings.depth_dir
            row.prompt_from, row.watch, row.project = (
                settings.prompt_from,
                settings.watch,
                settings.project,
            )
            s.flush()
            return int(row.id)

    def taken(self, batch_id: int) -> set[str]:
        """The files the batch has turned into jobs already."""
        with read_session(self._sessions) as s:
            return set(
                s.scalars(select(BatchFileRow.path).where(BatchFileRow.batch_id == batch_id))
            )

    def take(self, batch_id: int, files: Sequence[TakenFile]) -> None:
        with self._sessions.begin() as s:
            s.add_all(
                BatchFileRow(
                    batch_id=batch_id,
                    path=f.path,
                    size=f.size,
                    mtime_ns=f.mtime_ns,
                    job_id=f.job_id,
                )
                for f in files
            )


class GridRepository:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def create(self, spec: dict[str, Any], project: str, out_dir: str | None) -> int:
        with self._sessions.begin() as s:
            row = GridRow(
                spec_json=json.dumps(spec), job_ids_json="[]", project=project, out_dir=out_dir
            )
            s.add(row)
            s.flush()
            return int(row.id)

    def set_jobs(self, grid_id: int, job_ids: tuple[tuple[int, ...], ...]) -> None:
        with self._sessions.begin() as s:
            row = s.get(GridRow, grid_id)
            if row is not None:
                row.job_ids_json = json.dumps(job_ids)

    def set_out_path(self, grid_id: int, path: str) -> None:
        with self._sessions.begin() as s:
            row = s.get(GridRow, grid_id)
            if row is not None:
                row.out_path = path

    def get(self, grid_id: int) -> GridRecord | None:
        with read_session(self._sessions) as s:
            row = s.get(GridRow, grid_id)
            if row is None:
                return None
            return GridRecord(
                id=row.id,
                spec=json.loads(row.spec_json),
                job_ids=tuple(tuple(r) for r in json.loads(row.job_ids_json)),
                project=row.project,
                out_dir=row.out_dir,
                out_path=row.out_path,
            )
