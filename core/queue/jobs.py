"""The queue in the database: jobs, their states and order, claimed atomically by workers.

A job is of one of two kinds (`core.choices.JOB_KINDS`): "generate" runs a `GenerationRequest`,
"train" runs a `TrainingSpec`; both travel one path (submit, claim, heartbeat, finish, recover).
States: queued -> running -> done | failed | cancelled (and back to queued by retry, by a
worker stopping cleanly, or by crash recovery); a person can pause a queued or running job
(paused, until `resume` queues it again). `attempts` counts how often a job was started.
Every write is one `BEGIN IMMEDIATE` transaction, so several processes share one queue safely.

The worker's own statements (add, claim, the running count) are built once, as Core statements
with bound parameters: built per call, SQLAlchemy spent about 0.8 ms a job compiling them, more
than SQLite spent running them (bench/findings.md, 2026-12-03 "night").
"""

from __future__ import annotations

import builtins
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Row, Table, bindparam, exists, func, insert, select, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

from core.choices import JOB_STATES
from core.errors import BadInput
from core.library.database import read_session
from core.library.schema import JobRow, ProjectRow, QueueStateRow, utc_now
from core.request import GenerationRequest
from core.training.spec import TrainingSpec

STATES = JOB_STATES  # queued -> running (-> paused) -> done | failed | cancelled
Work = GenerationRequest | TrainingSpec  # what a job runs, by its kind
MAX_ATTEMPTS = 3

_JOBS = cast(Table, JobRow.__table__)
_PROJECT_NAME = select(ProjectRow.name).where(ProjectRow.id == _JOBS.c.project_id).scalar_subquery()
_JOB_COLUMNS = (*_JOBS.c, _PROJECT_NAME.label("project"))
_FIRST_QUEUED = (
    select(_JOBS.c.id)
    .where(_JOBS.c.status == "queued")
    .order_by(_JOBS.c.position, _JOBS.c.id)
    .limit(1)
    .scalar_subquery()
)
# One statement takes the first queued job unless the queue is paused, and hands it back.
_CLAIMED = {
    "status": "running",
    "worker": bindparam("worker"),
    "started_at": bindparam("now"),
    "heartbeat_at": bindparam("now"),
    "attempts": _JOBS.c.attempts + 1,
    "cancel_requested": False,
    "pause_requested": False,
    "error_type": None,
    "error_message": None,
}
_NOT_PAUSED = ~exists().where(QueueStateRow.id == 1, QueueStateRow.paused)
_CLAIM = (
    update(_JOBS)
    .where(_JOBS.c.id == _FIRST_QUEUED)
    .where(_NOT_PAUSED)
    .values(**_CLAIMED)
    .returning(*_JOB_COLUMNS)
)
_INSERT = insert(_JOBS).returning(*_JOBS.c, sort_by_parameter_order=True)
_NEXT_POSITION = select(func.coalesce(func.max(_JOBS.c.position), -1) + 1)
# The highest id ever given: a cleared job's id is not given again (migration 0007).
_LAST_ID = select(
    func.max(
        select(func.coalesce(func.max(_JOBS.c.id), 0)).scalar_subquery(),
        select(func.coalesce(func.max(QueueStateRow.last_job_id), 0)).scalar_subquery(),
    )
)
_KEEP_LAST_ID = (
    sqlite_insert(QueueStateRow)
    .values(id=1, paused=False, last_job_id=bindparam("last"))
    .on_conflict_do_update(index_elements=["id"], set_={"last_job_id": bindparam("last")})
)
_PROJECT_ID = select(ProjectRow.id).where(ProjectRow.name == bindparam("name"))
_RUNNING_COUNT = select(func.count()).select_from(_JOBS).where(_JOBS.c.status == "running")
_RUNNING = select(_JOBS.c.id, _JOBS.c.worker, _JOBS.c.heartbeat_at, _JOBS.c.attempts).where(
    _JOBS.c.status == "running"
)


@dataclass(frozen=True)
class Job:
    id: int
    kind: str  # "generate" (work is a GenerationRequest) or "train" (a TrainingSpec)
    work: GenerationRequest | TrainingSpec
    status: str
    position: int
    attempts: int
    project: str
    error_type: str | None
    error_message: str | None
    batch_id: str | None
    out_dir: str | None
    stem: str | None
    input_path: str | None
    worker: str | None
    cancel_requested: bool
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    progress: dict[str, Any] | None = None  # a running job's last progress (training: loss, ETA)

    @property
    def request(self) -> GenerationRequest:
        """A generation job's request (TypeError for a training job: read `spec`)."""
        if not isinstance(self.work, GenerationRequest):
            raise TypeError(f"job {self.id} is a {self.kind} job; it has no image request")
        return self.work

    @property
    def spec(self) -> TrainingSpec:
        """A training job's spec (TypeError for a generation job: read `request`)."""
        if not isinstance(self.work, TrainingSpec):
            raise TypeError(f"job {self.id} is a {self.kind} job; it has no training spec")
        return self.work

    @property
    def task(self) -> str:
        """What it does, in a word or two: a generation task, or "train lora" etc."""
        work = self.work
        return work.task if isinstance(work, GenerationRequest) else f"train {work.method}"

    @property
    def model(self) -> str:
        work = self.work
        return work.model if isinstance(work, GenerationRequest) else work.base

    @property
    def seed(self) -> int | None:
        return self.work.seed

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "status": self.status,
            "position": self.position,
            "attempts": self.attempts,
            "project": self.project,
            "task": self.task,
            "model": self.model,
            "prompt": self.work.prompt,
            "error_type": self.error_type,
            "error_message": self.error_message,
            "batch_id": self.batch_id,
            "input_path": self.input_path,
            "out_dir": self.out_dir,
            "created_at": self.created_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "progress": self.progress,
            "request": self.work.to_dict(),
        }


def job_kind(work: GenerationRequest | TrainingSpec) -> str:
    return "train" if isinstance(work, TrainingSpec) else "generate"


def work_from_json(kind: str, text: str) -> GenerationRequest | TrainingSpec:
    if kind == "train":
        return TrainingSpec.from_dict(json.loads(text))
    return GenerationRequest.from_json(text)


@dataclass(frozen=True)
class NewJob:
    request: GenerationRequest | TrainingSpec
    project: str = "default"
    out_dir: str | None = None
    stem: str | None = None
    input_path: str | None = None
    batch_id: str | None = None
    failed_because: str | None = None  # a job known bad when queued: recorded as failed at once


class JobRepository:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    # ---- adding and reading ------------------------------------------------------------
    def add(self, job: NewJob) -> Job:
        return self.add_many([job])[0]

    def add_many(self, jobs: builtins.list[NewJob]) -> builtins.list[Job]:
        if not jobs:
            return []
        now = utc_now()
        with self._sessions.begin() as s:
            conn = s.connection()
            position = int(conn.execute(_NEXT_POSITION).scalar_one())
            first_id = int(conn.execute(_LAST_ID).scalar_one()) + 1
            projects = {name: _project_id(s, name) for name in {new.project for new in jobs}}
            rows = conn.execute(
                _INSERT,
                [
                    {
                        "id": first_id + i,
                        "kind": job_kind(new.request),
                        "request_json": new.request.canonical_json(),
                        "status": "failed" if new.failed_because else "queued",
                        "position": position + i,
                        "attempts": 0,
                        "error_type": "BadInput" if new.failed_because else None,
                        "error_message": new.failed_because,
                        "project_id": projects[new.project],
                        "batch_id": new.batch_id,
                        "out_dir": new.out_dir,
                        "created_at": now,
                        "started_at": None,
                        "finished_at": now if new.failed_because else None,
                        "worker": None,
                        "heartbeat_at": None,
                        "cancel_requested": False,
                        "pause_requested": False,
                        "progress_json": None,
                        "stem": new.stem,
                        "input_path": new.input_path,
                    }
                    for i, new in enumerate(jobs)
                ],
            ).all()
            conn.execute(_KEEP_LAST_ID, {"last": first_id + len(jobs) - 1})
            return [_job(row, new.project) for row, new in zip(rows, jobs, strict=True)]

    def get(self, job_id: int) -> Job | None:
        with read_session(self._sessions) as s:
            query = select(*_JOB_COLUMNS).where(_JOBS.c.id == job_id)
            row = s.connection().execute(query).first()
            return _job(row, row.project) if row is not None else None

    def list(
        self, statuses: tuple[str, ...] | None = None, offset: int = 0, limit: int = 200
    ) -> builtins.list[Job]:
        with read_session(self._sessions) as s:
            query = select(*_JOB_COLUMNS).order_by(_JOBS.c.position, _JOBS.c.id)
            if statuses:
                query = query.where(_JOBS.c.status.in_(statuses))
            rows = s.connection().execute(query.offset(offset).limit(limit)).all()
            return [_job(r, r.project) for r in rows]

    def running_count(self) -> int:
        with read_session(self._sessions) as s:
            return int(s.connection().execute(_RUNNING_COUNT).scalar_one())

    def counts(self) -> dict[str, int]:
        with read_session(self._sessions) as s:
            rows = s.execute(select(JobRow.status, func.count()).group_by(JobRow.status)).all()
            counts = dict.fromkeys(STATES, 0)
            counts.update({status: n for status, n in rows})
            return counts

    # ---- the worker's side -------------------------------------------------------------
    def claim_next(self, worker: str, kinds: tuple[str, ...] | None = None) -> Job | None:
        """Atomically take the first queued job (unless the queue is paused); with `kinds`, the
        first of those kinds (a cluster head takes only generation jobs)."""
        if kinds is not None:
            return next(iter(self.claim_many(worker, 1, kinds)), None)
        with self._sessions.begin() as s:
            row = s.connection().execute(_CLAIM, {"worker": worker, "now": utc_now()}).first()
            return _job(row, row.project) if row is not None else None

    def claim_many(self, worker: str, limit: int, kinds: tuple[str, ...]) -> builtins.list[Job]:
        """Atomically take up to `limit` of the first queued jobs of `kinds` (unless the queue
        is paused), in queue order: one statement for what `claim_next` takes one by one."""
        with self._sessions.begin() as s:
            rows = s.connection().execute(
                _claim_many_of(kinds), {"worker": worker, "now": utc_now(), "limit": limit}
            )
            jobs = [_job(row, row.project) for row in rows]
        return sorted(jobs, key=lambda job: (job.position, job.id))

    def heartbeat(self, job_id: int, worker: str, progress: dict[str, Any] | None = None) -> str:
        """Mark the job alive (and keep its last `progress`, when given). Returns what a
        person asked for meanwhile: "cancel", "pause" or "" (nothing)."""
        values: dict[str, Any] = {"heartbeat_at": utc_now()}
        if progress is not None:
            values["progress_json"] = json.dumps(progress, sort_keys=True)
        with self._sessions.begin() as s:
            s.execute(
                update(JobRow).where(JobRow.id == job_id, JobRow.worker == worker).values(**values)
            )
            asked = s.execute(
                select(JobRow.cancel_requested, JobRow.pause_requested).where(JobRow.id == job_id)
            ).first()
            if asked is None:
                return ""
            return "cancel" if asked[0] else "pause" if asked[1] else ""

    def finish(
        self, job_id: int, status: str, error_type: str | None = None, message: str | None = None
    ) -> None:
        """End a running job as failed or cancelled (done is set with the outputs' transaction)."""
        with self._sessions.begin() as s:
            row = s.get(JobRow, job_id)
            if row is None:
                return
            row.status, row.error_type, row.error_message = status, error_type, message
            row.finished_at, row.worker, row.cancel_requested = utc_now(), None, False

    def release(self, job_id: int, status: str = "queued") -> None:
        """A worker stopping cleanly gives its job back, uncounted: queued again, or paused
        when a person paused it."""
        with self._sessions.begin() as s:
            row = s.get(JobRow, job_id)
            if row is not None and row.status == "running":
                row.status, row.worker, row.started_at = status, None, None
                row.attempts = max(0, row.attempts - 1)
                row.pause_requested = row.cancel_requested = False

    def pause_requested(self, job_id: int) -> bool:
        with read_session(self._sessions) as s:
            return bool(s.scalar(select(JobRow.pause_requested).where(JobRow.id == job_id)))

    # ---- a person's side ---------------------------------------------------------------
    def cancel(self, job_id: int) -> str:
        """Cancel a queued or paused job now, a running one at its next step. Returns what
        happened."""
        with self._sessions.begin() as s:
            row = _existing(s, job_id)
            if row.status in ("queued", "paused"):
                row.status, row.finished_at = "cancelled", utc_now()
                return "cancelled"
            if row.status == "running":
                row.cancel_requested = True
                return "cancelling"
            raise BadInput(
                "job", f"job {job_id} is {row.status}; only queued, paused or running jobs cancel"
            )

    def pause(self, job_id: int) -> str:
        """Hold a queued job now, a running one at its next step (a training job checkpoints
        first, and goes on from there when resumed). Returns what happened."""
        with self._sessions.begin() as s:
            row = _existing(s, job_id)
            if row.status == "queued":
                row.status = "paused"
                return "paused"
            if row.status == "running":
                row.pause_requested = True
                return "pausing"
            raise BadInput(
                "job", f"job {job_id} is {row.status}; only queued or running jobs pause"
            )

    def resume(self, job_id: int) -> None:
        """Queue a paused job again, in the place it had."""
        with self._sessions.begin() as s:
            row = _existing(s, job_id)
            if row.status != "paused":
                raise BadInput("job", f"job {job_id} is {row.status}; only paused jobs resume")
            row.status = "queued"

    def retry(self, job_id: int) -> None:
        with self._sessions.begin() as s:
            row = _existing(s, job_id)
            if row.status not in ("failed", "cancelled"):
                raise BadInput(
                    "job", f"job {job_id} is {row.status}; only failed or cancelled jobs retry"
                )
            row.status, row.attempts, row.error_type, row.error_message = "queued", 0, None, None
            row.finished_at = row.started_at = None
            row.position = _next_position(s)

    def move(self, job_id: int, to: int) -> None:
        """Put a queued job at position `to` (1 = next to run) among the queued jobs."""
        with self._sessions.begin() as s:
            row = _existing(s, job_id)
            if row.status != "queued":
                raise BadInput("job", f"job {job_id} is {row.status}; only queued jobs move")
            queued = builtins.list(
                s.scalars(
                    select(JobRow)
                    .where(JobRow.status == "queued")
                    .order_by(JobRow.position, JobRow.id)
                ).all()
            )
            queued.remove(row)
            queued.insert(max(0, min(to - 1, len(queued))), row)
            for i, r in enumerate(queued):
                r.position = i

    def edit(self, job_id: int, request: GenerationRequest | TrainingSpec) -> None:
        request.validate()
        with self._sessions.begin() as s:
            row = _existing(s, job_id)
            if row.status not in ("queued", "paused"):
                raise BadInput(
                    "job", f"job {job_id} is {row.status}; only queued or paused jobs can be edited"
                )
            if row.kind != job_kind(request):
                raise BadInput("job", f"job {job_id} is a {row.kind} job; its kind cannot change")
            row.request_json = request.canonical_json()

    def clear(self, statuses: tuple[str, ...] = ("done",)) -> int:
        """Forget finished jobs (their runs and outputs stay in history)."""
        from sqlalchemy import delete

        from core.library.schema import RunRow

        with self._sessions.begin() as s:
            ids = builtins.list(s.scalars(select(JobRow.id).where(JobRow.status.in_(statuses))))
            if not ids:
                return 0
            s.execute(update(RunRow).where(RunRow.job_id.in_(ids)).values(job_id=None))
            s.execute(delete(JobRow).where(JobRow.id.in_(ids)))
            return len(ids)

    def set_paused(self, paused: bool) -> None:
        with self._sessions.begin() as s:
            row = s.get(QueueStateRow, 1)
            if row is None:
                s.add(QueueStateRow(id=1, paused=paused))
            else:
                row.paused = paused

    def is_paused(self) -> bool:
        with read_session(self._sessions) as s:
            return _paused(s)

    def running(self) -> builtins.list[tuple[int, str | None, datetime | None, int]]:
        """(id, worker, heartbeat_at, attempts) of every running job, for crash recovery."""
        with read_session(self._sessions) as s:
            rows = s.connection().execute(_RUNNING).all()
            return [(r[0], r[1], r[2], r[3]) for r in rows]

    def recover(self, job_id: int, worker: str | None, give_up: bool, reason: str) -> bool:
        """Requeue (or fail) a running job whose worker is gone; False if it moved on."""
        with self._sessions.begin() as s:
            row = s.get(JobRow, job_id)
            if row is None or row.status != "running" or row.worker != worker:
                return False
            row.worker = None
            if give_up:
                row.status, row.error_type, row.error_message = "failed", "Interrupted", reason
                row.finished_at = utc_now()
            else:
                row.status, row.started_at = "queued", None
            return True


# ---- helpers ---------------------------------------------------------------------------
def _existing(s: Session, job_id: int) -> JobRow:
    row = s.get(JobRow, job_id)
    if row is None:
        raise BadInput("job", f"no job {job_id} in this library")
    return row


def _paused(s: Session) -> bool:
    row = s.get(QueueStateRow, 1)
    return bool(row and row.paused)


def _next_position(s: Session) -> int:
    return int(s.connection().execute(_NEXT_POSITION).scalar_one())


def _project_id(s: Session, name: str) -> int:
    project_id = s.connection().execute(_PROJECT_ID, {"name": name}).scalar()
    if project_id is None:
        row = ProjectRow(name=name)
        s.add(row)
        s.flush()
        project_id = row.id
    return int(project_id)


_CLAIM_MANY: dict[tuple[str, ...], Any] = {}


def _claim_many_of(kinds: tuple[str, ...]) -> Any:
    """The statement claiming the first `limit` queued jobs of `kinds`, built once per tuple."""
    if kinds not in _CLAIM_MANY:
        first = (
            select(_JOBS.c.id)
            .where(_JOBS.c.status == "queued", _JOBS.c.kind.in_(kinds))
            .order_by(_JOBS.c.position, _JOBS.c.id)
            .limit(bindparam("limit"))
        )
        _CLAIM_MANY[kinds] = (
            update(_JOBS)
            .where(_JOBS.c.id.in_(first.scalar_subquery()))
            .where(_NOT_PAUSED)
            .values(**_CLAIMED)
            .returning(*_JOB_COLUMNS)
        )
    return _CLAIM_MANY[kinds]


def _job(row: Row[Any], project: str | None) -> Job:
    """A job from its columns (one of the statements above) and its project's name."""
    return Job(
        id=row.id,
        kind=row.kind,
        work=work_from_json(row.kind, row.request_json),
        status=row.status,
        position=row.position,
        attempts=row.attempts,
        project=project or "",
        error_type=row.error_type,
        error_message=row.error_message,
        batch_id=row.batch_id,
        out_dir=row.out_dir,
        stem=row.stem,
        input_path=row.input_path,
        worker=row.worker,
        cancel_requested=bool(row.cancel_requested),
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        progress=json.loads(row.progress_json) if row.progress_json else None,
    )
