"""Training runs in the library: which run made which variant, and its full record."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from core.library.schema import JobRow, TrainingRunRow, utc_now


@dataclass(frozen=True)
class TrainingRun:
    id: int
    spec_hash: str
    spec: dict[str, Any]
    method: str
    variant_name: str
    variant_fingerprint: str
    base_name: str
    base_fingerprint: str
    record: dict[str, Any]
    created_at: datetime
    job_id: int | None = None  # the queued job that ran it (None: `atelier train --run`)


def _run(row: TrainingRunRow) -> TrainingRun:
    return TrainingRun(
        id=row.id,
        spec_hash=row.spec_hash,
        spec=json.loads(row.spec_json),
        method=row.method,
        variant_name=row.variant_name,
        variant_fingerprint=row.variant_fingerprint,
        base_name=row.base_name,
        base_fingerprint=row.base_fingerprint,
        record=json.loads(row.record_json),
        created_at=row.created_at,
        job_id=row.job_id,
    )


class TrainingRunRepository:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def add(
        self,
        *,
        spec_hash: str,
        spec_json: str,
        method: str,
        variant_name: str,
        variant_fingerprint: str,
        base_name: str,
        base_fingerprint: str,
        record: dict[str, Any],
        job_id: int | None = None,
    ) -> TrainingRun:
        """Record a finished run; its job (if queued) is done in the same transaction."""
        with self._sessions.begin() as s:
            row = TrainingRunRow(
                spec_hash=spec_hash,
                spec_json=spec_json,
                method=method,
                variant_name=variant_name,
                variant_fingerprint=variant_fingerprint,
                base_name=base_name,
                base_fingerprint=base_fingerprint,
                record_json=json.dumps(record, sort_keys=True),
                job_id=job_id,
            )
            s.add(row)
            if job_id is not None:
                s.execute(
                    update(JobRow)
                    .where(JobRow.id == job_id)
                    .values(status="done", finished_at=utc_now(), worker=None, error_type=None)
                )
            s.flush()
            return _run(row)

    def get(self, run_id: int) -> TrainingRun | None:
        with self._sessions() as s:
            row = s.get(TrainingRunRow, run_id)
            return None if row is None else _run(row)

    def for_job(self, job_id: int) -> TrainingRun | None:
        query = select(TrainingRunRow).where(TrainingRunRow.job_id == job_id).limit(1)
        with self._sessions() as s:
            row = s.scalar(query)
            return None if row is None else _run(row)

    def for_variant(self, name: str) -> TrainingRun | None:
        """The newest run that made the variant called `name`."""
        query = (
            select(TrainingRunRow)
            .where(TrainingRunRow.variant_name == name)
            .order_by(TrainingRunRow.id.desc())
            .limit(1)
        )
        with self._sessions() as s:
            row = s.scalar(query)
            return None if row is None else _run(row)

    def bases(self) -> dict[str, str]:
        """Variant name -> the base model it was trained from, for every trained variant."""
        query = select(TrainingRunRow.variant_name, TrainingRunRow.base_name).order_by(
            TrainingRunRow.id
        )
        with self._sessions() as s:
            return {name: base for name, base in s.execute(query)}

    def ids(self) -> dict[str, int]:
        """Variant name -> the id of the newest run that made it, for every trained variant."""
        query = select(TrainingRunRow.variant_name, TrainingRunRow.id).order_by(TrainingRunRow.id)
        with self._sessions() as s:
            return {name: run_id for name, run_id in s.execute(query)}
