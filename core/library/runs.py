"""Runs and their outputs: recording a finished run atomically, and reading the history."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, Connection, bindparam, func, select, update
from sqlalchemy.dialects.sqlite import insert
from sqlalchemy.orm import Session, sessionmaker

from core.errors import BadInput, ClaimLost
from core.library.database import read_session
from core.library.entities import JobClaim, NewOutput, NewRun, Output, Run
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

# RETURNING in the order given, also when one statement inserts many rows
_INSERT_RUN = insert(RunRow).returning(RunRow.id, sort_by_parameter_order=True)
_INSERT_ASSET = insert(AssetRow).on_conflict_do_nothing(index_elements=[AssetRow.sha256])
_INSERT_OUTPUT = insert(OutputRow).returning(OutputRow.id, sort_by_parameter_order=True)
_JOB_CLAIMS = select(JobRow.id, JobRow.status, JobRow.worker, JobRow.attempts).where(
    JobRow.id.in_(bindparam("ids", expanding=True))
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


def _held(conn: Connection, runs: Sequence[NewRun]) -> list[NewRun]:
    """The runs to record: those without a claim, and those whose job still runs under it."""
    claimed = {r.job_id for r in runs if r.claim is not None and r.job_id is not None}
    held: dict[int, tuple[object, ...]] = {}
    if claimed:
        rows = conn.execute(_JOB_CLAIMS, {"ids": sorted(claimed)})
        held = {row.id: (row.status, row.worker, row.attempts) for row in rows}
    return [
        r
        for r in runs
        if r.claim is None
        or r.job_id is None
        or held.get(r.job_id) == ("running", r.claim.worker, r.claim.attempts)
    ]


def _check_parents(conn: Connection, parent_ids: set[int]) -> None:
    if parent_ids:
        found = set(conn.execute(_EXISTING_OUTPUTS, {"ids": sorted(parent_ids)}).scalars())
        if missing := parent_ids - found:
            raise BadInput("parent_ids", f"no earlier output with id {min(missing)}")


def _run_values(run: NewRun, now: datetime) -> dict[str, object]:
    return {
        "project_id": run.project_id, "job_id": run.job_id, "request_json": run.request_json,
        "request_hash": run.request_hash, "environment_json": run.environment_json,
        "timings_json": run.timings_json, "created_at": now,
    }  # fmt: skip


def _output_values(run_id: int, run: NewRun, new: NewOutput, now: datetime) -> dict[str, object]:
    task, model = _task_and_model(run.request_json)
    return {
        "run_id": run_id, "asset_sha256": new.asset.sha256, "path": new.path,
        "image_index": new.image_index, "seed": new.seed, "pixel_sha256": new.pixel_sha256,
        "record_json": new.record_json, "created_at": now, "task": task, "model": model,
        "project_id": run.project_id,
    }  # fmt: skip


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
        late result of a job that was requeued meanwhile.
        """
        run = NewRun(
            project_id, job_id, request_json, request_hash, environment_json, timings_json,
            tuple(outputs), claim, finishes_job,
        )  # fmt: skip
        [recorded] = self.record_runs([run])
        if recorded is None:
            assert job_id is not None
            raise ClaimLost(job_id)
        return recorded

    def record_runs(self, runs: Sequence[NewRun]) -> list[tuple[int, list[int]] | None]:
        """Record several finished runs in one transaction (a cluster head's group commit).

        Each run is what `record_run` records, and each run's claim is checked on its own: a
        run whose job no longer runs under its claim gets None and writes nothing, the others
        commit. Anything else that fails (an unknown parent output, project or job) writes
        nothing for any of them. Returns, in the order given, each run's id and output ids.
        Every job's images pass through here, so it speaks prebuilt Core statements, one per
        kind of row for the whole group: the ORM's unit of work cost about 2 ms a run on top
        of SQLite's own work, and a statement per row about 0.1 ms more.
        """
        for run in runs:
            for new in run.outputs:
                if new.asset.role not in ASSET_ROLES:
                    raise BadInput("role", f"expected one of {', '.join(ASSET_ROLES)}")
        now = utc_now()
        with self._sessions.begin() as s:
            conn = s.connection()
            kept = _held(conn, runs)
            if not kept:
                return [None] * len(runs)
            run_ids = conn.execute(_INSERT_RUN, [_run_values(r, now) for r in kept]).scalars()
            by_run = dict(zip(map(id, kept), run_ids, strict=True))
            outputs = [(by_run[id(r)], r, new) for r in kept for new in r.outputs]
            if outputs:
                assets = {new.asset.sha256: _asset_values(new, now) for _, _, new in outputs}
                conn.execute(_INSERT_ASSET, list(assets.values()))
                _check_parents(conn, {p for _, _, new in outputs for p in new.parent_ids})
                rows = [_output_values(run_id, r, new, now) for run_id, r, new in outputs]
                output_ids = list(conn.execute(_INSERT_OUTPUT, rows).scalars())
                links = [
                    {"output_id": output_id, "parent_id": parent}
                    for output_id, (_, _, new) in zip(output_ids, outputs, strict=True)
                    for parent in dict.fromkeys(new.parent_ids)
                ]
                if links:
                    conn.execute(insert(OutputParentRow), links)
            else:
                output_ids = []
            done = [
                {"job_id": r.job_id, "now": now}
                for r in kept
                if r.job_id is not None and r.finishes_job  # done exactly when its outputs exist
            ]
            if done:
                conn.execute(_JOB_DONE, done)
            ids = iter(output_ids)
            recorded = {id(r): (by_run[id(r)], [next(ids) for _ in r.outputs]) for r in kept}
            return [recorded.get(id(r)) for r in runs]

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
