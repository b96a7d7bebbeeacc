"""Sweeps started from the window: queue the grid's jobs, and when the last one is done,
assemble the grid image in a pool thread (it reads every cell's image)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal, Slot

from desktop.background import run_in_background

if TYPE_CHECKING:
    from core.queue.jobs import Job
    from core.queue.sweep import Axis, Grid
    from core.request import GenerationRequest
    from desktop.session import Session

GRID_PREFIX = "grid:"


class Sweeps(QObject):
    queued = Signal(list)  # the grid's job ids
    gridReady = Signal(int, str)  # grid id, the grid image's path
    gridRecorded = Signal(int)  # the grid image's output id in the history
    message = Signal(str)

    def __init__(self, session: Session, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.pending: set[int] = set()  # grids waiting for their jobs
        self.assembling: set[int] = set()
        session.bridge.jobDone.connect(self.on_job_done)
        session.bridge.jobFailed.connect(self.on_job_failed)

    def start(
        self, template: GenerationRequest, x: Axis, y: Axis | None, project: str = "default"
    ) -> Grid:
        """Queue one job per cell (BadInput when a cell cannot work)."""
        from core.queue.sweep import queue_grid

        prefs = self.session.prefs
        template = template.replace(**prefs.request_changes())
        out_dir = Path(prefs.output_folder) if prefs.output_folder else None
        grid = queue_grid(self.session.library, template, x, y, project=project, out_dir=out_dir)
        self.session.wake_worker()
        self.pending.add(grid.id)
        cells = sum(len(row) for row in grid.job_ids)
        self.message.emit(f"sweep: {cells} jobs queued for grid {grid.id}")
        jobs = [j for row in grid.job_ids for j in row]
        self.queued.emit(jobs)
        return grid

    @Slot(object, object)
    def on_job_done(self, job: Job, outputs: list[Any]) -> None:
        grid_id = _grid_of(job)
        if grid_id is None or grid_id not in self.pending:
            return
        from core.queue.sweep import grid_pending

        try:
            left = grid_pending(self.session.library, grid_id)
        except Exception as exc:
            self.message.emit(f"grid {grid_id}: {exc}")
            return
        if left:
            return
        self.pending.discard(grid_id)
        self.assembling.add(grid_id)
        library = self.session.library
        from core.queue.sweep import assemble_grid, keep_grid_in_history

        def assemble() -> tuple[Path, int]:
            path = assemble_grid(library, grid_id)
            return path, keep_grid_in_history(library, grid_id, path)

        run_in_background(
            assemble,
            lambda done: self._assembled(grid_id, *done),
            lambda error: self._not_assembled(grid_id, error),
        )

    @Slot(object, str, str)
    def on_job_failed(self, job: Job, kind: str, message: str) -> None:
        grid_id = _grid_of(job)
        if grid_id is not None and grid_id in self.pending:
            self.message.emit(f"grid {grid_id}: job {job.id} failed; retry it to finish the grid")

    def _assembled(self, grid_id: int, path: Path, output_id: int) -> None:
        self.assembling.discard(grid_id)
        self.message.emit(f"grid {grid_id} ready: {path}")
        self.gridReady.emit(grid_id, str(path))
        self.gridRecorded.emit(output_id)

    def _not_assembled(self, grid_id: int, error: str) -> None:
        self.assembling.discard(grid_id)
        self.message.emit(f"grid {grid_id}: could not assemble: {error}")


def _grid_of(job: Job) -> int | None:
    batch = job.batch_id or ""
    if not batch.startswith(GRID_PREFIX):
        return None
    try:
        return int(batch.removeprefix(GRID_PREFIX))
    except ValueError:
        return None
