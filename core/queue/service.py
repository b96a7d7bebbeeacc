"""The one way into the queue: every producer (the CLI, folder batches and watch folders, grids
and sweeps, the window, re-runs, imports) calls `QueueService.submit`.

A submission is checked (`GenerationRequest.validate`), its seed is fixed once (`with_seed`: its
own, else a fresh one), and it is written; the jobs come back with the seed they will run with,
so a queued job shows its final seed before it runs and makes the same images whenever it runs.
A job known bad when it is queued (a batch image without its mask) is written as failed at once,
with its message, so the rest of its batch goes on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from core.queue.jobs import Job, JobRepository, NewJob
from core.request import GenerationRequest, with_seed


class QueueService:
    """Submits jobs to one library's queue."""

    def __init__(self, jobs: JobRepository) -> None:
        self.jobs = jobs

    def submit(
        self,
        request: GenerationRequest,
        *,
        project: str = "default",
        out_dir: str | None = None,
        copies: int = 1,
    ) -> list[Job]:
        """Queue `copies` jobs for `request`. Each copy without a seed gets a seed of its own."""
        return self.submit_many(
            [NewJob(request, project=project, out_dir=out_dir) for _ in range(copies)]
        )

    def submit_many(self, new_jobs: Sequence[NewJob]) -> list[Job]:
        """Check every job first (nothing is written if one is bad), fix seeds, write all in one
        transaction, in order."""
        return self.jobs.add_many([_ready(new) for new in new_jobs])

    def edit(self, job_id: int, request: GenerationRequest) -> None:
        """Change a queued job's request (checked, its seed fixed, as when it was submitted)."""
        self.jobs.edit(job_id, with_seed(request))  # the repository checks it


def _ready(new: NewJob) -> NewJob:
    if new.failed_because is None:
        new.request.validate()
    return replace(new, request=with_seed(new.request))
