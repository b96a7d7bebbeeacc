"""Runs and their outputs: recording a finished run atomically, and reading the history."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, bindparam, func, select, update
from sqlalchemy.dialects.sqlite import insert
from sqlalchemy.orm import Session, sessionmaker

from core.errors import BadInput, ClaimLost
from core.library.database import read_session
from core.library.entities import JobClaim, NewOutput, Output, Run
from core.library.schema import (
    ASSET_ROLES,
    AssetRow,
    JobRow,
    OutputParentRow,
    OutputRow,
    ProjectRow,
    RunRow,
    utc_now,
)

_INSERT_RUN = insert(RunRow).returning(RunRow.id)
_INSERT_ASSET = insert(AssetRow).on_conflict_do_nothing(index_elements=[AssetRow.sha256])
_INSERT_OUTPUT = insert(OutputRow).returning(OutputRow.id)
_JOB_CLAIM = select(JobRow.status, JobRow.worker, JobRow.attempts).where(
    JobRow.id == bindparam("job_id")
)
_EXISTING_OUTPUTS = select(OutputRow.id).where(OutputRow.id.in_(bindparam("ids", expanding=True)))
_JOB_DONE = (
    update(JobRow)
    .where(JobRow.id == bindparam("job_id"))
    .values(
        status="done", finished_at=bindparam("now"), worker=None, error_type=None,
        error_message=None,
    )
)  # fmt: skip


def _asset_values(new: NewOutput, now: datetime) -> dict[str, object]:
    asset = new.asset
    return {
        "sha256": asset.sha256, "relpath": asset.relpath, "size": asset.size,
        "format": asset.format, "role": asset.role, "width": asset.width,
        "height": asset.height, "created_at": now,
    }  # fmt: skip


class RunRepository:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def record_run(
        self,
        project_id: int,
        job_id: int | None,
        request_json: str,
        request_hash: str,
        environment_json: str,
        timings_json: str,
        outputs: Sequence[NewOutput],
        claim: JobClaim | None = None,
        *,
        finishes_job: bool = True,
    ) -> tuple[int, list[int]]:
        """Insert the run, any new assets, its outputs and their lineage in one transaction.
        The job (`job_id`) is done with it, unless `finishes_job` is False (a training job's
        sample images belong to the job but do not end it).

        Returns the run id and the output ids in the order given. Nothing is written if any
        part fails (an unknown parent output, project or job). With `claim`, the job must still
        be running under it (worker and attempt), else `ClaimLost` and nothing is written: a
        late result of a job that was requeued meanwhile. Every job's images pass through
        here, so it speaks prebuilt Core statements: the ORM's unit of work cost about 2 ms a
        run on top of SQLite's own work.
        """
        for new in outputs:
            if new.asset.role not in ASSET_ROLES:
                raise BadInput("role", f"expected one of {', '.join(ASSET_ROLES)}")
        now = utc_now()
        task, model = _task_and_model(request_json)
        with self._sessions.begin() as s:
            conn = s.connection()
            if claim is not None and job_id is not None:
                held = conn.execute(_JOB_CLAIM, {"job_id": job_id}).first()
                if held is None or tuple(held) != ("running", claim.worker, claim.attempts):
                    raise ClaimLost(job_id)
            run_id = conn.execute(
                _INSERT_RUN,
                {
                    "project_id": project_id,
                    "job_id": job_id,
                    "request_json": request_json,
                    "request_hash": request_hash,
                    "environment_json": environment_json,
                    "timings_json": timings_json,
                    "created_at": now,
                },
            ).scalar_one()
            if outputs:
                conn.execute(_INSERT_ASSET, [_asset_values(new, now) for new in outputs])
            parent_ids = {p for new in outputs for p in new.parent_ids}
            if parent_ids:
                found = set(conn.execute(_EXISTING_OUTPUTS, {"ids": sorted(parent_ids)}).scalars())
                if missing := parent_ids - found:
                    raise BadInput("parent_ids", f"no earlier output with id {min(missing)}")
            output_ids: list[int] = []
            for new in outputs:
                output_id = conn.execute(
                    _INSERT_OUTPUT,
                    {
                        "run_id": run_id, "asset_sha256": new.asset.sha256, "path": new.path,
                        "image_index": new.image_index, "seed": new.seed,
                        "pixel_sha256": new.pixel_sha256, "record_json": new.record_json,
                        "created_at": now, "task": task, "model": model, "project_id": project_id,
                    },
                ).scalar_one()  # fmt: skip
                output_ids.append(output_id)
                if new.parent_ids:
                    conn.execute(
                        insert(OutputParentRow),
                        [
                            {"output_id": output_id, "parent_id": parent}
                            for parent in dict.fromkeys(new.parent_ids)
                        ],
                    )
            if job_id is not None and finishes_job:  # done exactly when its outputs exist
                conn.execute(_JOB_DONE, {"job_id": job_id, "now": now})
            return run_id, output_ids

    def delete_outputs(self, output_ids: Sequence[int]) -> list[str]:
        """Forget outputs: their rows, lineage links and search entries, in one transaction.

        Returns the store paths (relative) of assets no remaining output uses, for the caller to
        remove; files written to output folders outside the store are left alone.
        """
        from sqlalchemy import delete, or_

        ids = list(dict.fromkeys(output_ids))
        if not ids:
            return []
        with self._sessions.begin() as s:
            shas = set(s.scalars(select(OutputRow.asset_sha256).where(OutputRow.id.in_(ids))))
            s.execute(
                delete(OutputParentRow).where(
                    or_(OutputParentRow.output_id.in_(ids), OutputParentRow.parent_id.in_(ids))
                )
            )
            s.execute(delete(OutputRow).where(OutputRow.id.in_(ids)))
            still_used = set(
                s.scalars(select(OutputRow.asset_sha256).where(OutputRow.asset_sha256.in_(shas)))
            )
            orphans = shas - still_used
            relpaths = list(s.scalars(select(AssetRow.relpath).where(AssetRow.sha256.in_(orphans))))
            s.execute(
                delete(AssetRow).where(AssetRow.sha256.in_(orphans), AssetRow.role == "output")
            )
            return relpaths

    def path_recorded(self, path: str) -> bool:
        """Whether an output file at `path` belongs to a recorded output."""
        with read_session(self._sessions) as s:
            return s.scalar(select(OutputRow.id).where(OutputRow.path == path).limit(1)) is not None

    def get_run(self, run_id: int) -> Run | None:
        query = (
            select(RunRow, ProjectRow.name)
            .join(ProjectRow, ProjectRow.id == RunRow.project_id)
            .where(RunRow.id == run_id)
        )
        with read_session(self._sessions) as s:
            found = s.execute(query).first()
            if found is None:
                return None
            r, project = found
            ids = s.scalars(
                select(OutputRow.id).where(OutputRow.run_id == run_id).order_by(OutputRow.id)
            )
            return Run(
                r.id, r.job_id, r.project_id, project, r.request_json, r.request_hash,
                r.environment_json, r.timings_json, r.created_at, tuple(ids),
            )  # fmt: skip

    def ids_by_request_hash(self, request_hash: str) -> list[int]:
        """The runs of one exact request, oldest first (class images made before, say)."""
        with read_session(self._sessions) as s:
            query = select(RunRow.id).where(RunRow.request_hash == request_hash)
            return list(s.scalars(query.order_by(RunRow.id)))

    def first_output_of_job(self, job_id: int) -> Output | None:
        """The first image a job made (a grid's cell, a benchmark's image); None before then."""
        with read_session(self._sessions) as s:
            output_id = s.scalar(
                select(OutputRow.id)
                .join(RunRow, RunRow.id == OutputRow.run_id)
                .where(RunRow.job_id == job_id)
                .order_by(OutputRow.run_id.desc(), OutputRow.image_index)
                .limit(1)
            )
        return self.get_output(output_id) if output_id is not None else None

    def get_output(self, output_id: int) -> Output | None:
        """One output with its record, project, parents and children."""
        with read_session(self._sessions) as s:
            found = load_outputs(s, output_id=output_id)
            return found[0] if found else None

    def list_outputs(
        self, offset: int = 0, limit: int = 50, project: str | None = None
    ) -> list[Output]:
        """A page of outputs, newest first, optionally of one project."""
        with read_session(self._sessions) as s:
            return load_outputs(s, project=project, offset=offset, limit=limit)

    def count_outputs(self, project: str | None = None) -> int:
        query = select(func.count()).select_from(OutputRow)
        if project is not None:
            query = query.where(project_clause(project))
        with read_session(self._sessions) as s:
            return int(s.scalar(query) or 0)


def project_clause(name: str) -> ColumnElement[bool]:
    """Outputs of the project called `name`."""
    return (
        OutputRow.project_id
        == select(ProjectRow.id).where(ProjectRow.name == name).scalar_subquery()
    )


def _task_and_model(request_json: str) -> tuple[str | None, str | None]:
    try:
        request = json.loads(request_json)
    except ValueError:
        return None, None
    if not isinstance(request, dict):
        return None, None
    task, model = request.get("task"), request.get("model")
    return (str(task) if task is not None else None, str(model) if model is not None else None)


def load_outputs(
    s: Session,
    *,
    output_id: int | None = None,
    project: str | None = None,
    where: Sequence[ColumnElement[bool]] = (),
    offset: int = 0,
    limit: int | None = None,
) -> list[Output]:
    """Outputs newest first, with project names and lineage; `where` adds conditions on the
    outputs table (see `project_clause`).

    A page is found over ids alone, on a narrow index of the outputs (time, task, model,
    project), and only its rows are read: skipping 100,000 rows never reads their records.
    """
    page = select(OutputRow.id).order_by(OutputRow.created_at.desc(), OutputRow.id.desc())
    if output_id is not None:
        page = page.where(OutputRow.id == output_id)
    if project is not None:
        page = page.where(project_clause(project))
    if where:
        page = page.where(*where)
    page_ids = list(s.scalars(page.offset(offset).limit(limit)))
    query = (
        select(OutputRow, ProjectRow.name)
        .join(RunRow, RunRow.id == OutputRow.run_id)
        .join(ProjectRow, ProjectRow.id == RunRow.project_id)
        .where(OutputRow.id.in_(page_ids))
    )
    found = {o.id: (o, name) for o, name in s.execute(query)}
    rows = [found[i] for i in page_ids if i in found]
    ids = [o.id for o, _ in rows]
    parents = _lineage(s, ids, by_child=True)
    children = _lineage(s, ids, by_child=False)
    return [
        Output(
            id=o.id,
            run_id=o.run_id,
            project=project_name,
            asset_sha256=o.asset_sha256,
            path=o.path,
            image_index=o.image_index,
            seed=o.seed,
            pixel_sha256=o.pixel_sha256,
            record_json=o.record_json,
            created_at=o.created_at,
            parent_ids=tuple(parents.get(o.id, ())),
            child_ids=tuple(children.get(o.id, ())),
        )
        for o, project_name in rows
    ]


def _lineage(s: Session, ids: Iterable[int], by_child: bool) -> dict[int, list[int]]:
    """For each id: its parents (`by_child`) or its children, ascending."""
    ids = list(ids)
    if not ids:
        return {}
    key, other = (
        (OutputParentRow.output_id, OutputParentRow.parent_id)
        if by_child
        else (OutputParentRow.parent_id, OutputParentRow.output_id)
    )
    found: dict[int, list[int]] = defaultdict(list)
    for k, v in s.execute(select(key, other).where(key.in_(ids)).order_by(key, other)):
        found[k].append(v)
    return found
