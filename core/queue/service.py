"""The one way into the queue: every producer (the CLI, folder batches and watch folders, grids
and sweeps, the window, re-runs, imports) calls `QueueService.submit`.

A submission is checked (`GenerationRequest.validate`), its seed is fixed once (`with_seed`: its
own, else a fresh one), and it is written; the jobs come back with the seed they will run with,
so a queued job shows its final seed before it runs and makes the same images whenever it runs.
A job known bad when it is queued (a batch image without its mask) is written as failed at once,
with its message, so the rest of its batch goes on.

Training runs come in the same way (`submit_training`): a job of kind "train" carrying its
`TrainingSpec`, checked before it is written (the spec, the name, the instance images).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from core.errors import BadInput
from core.queue.jobs import Job, JobRepository, NewJob
from core.request import GenerationRequest, with_seed
from core.training.spec import TrainingSpec

if TYPE_CHECKING:
    from core.library import Library

_WAITING = ("queued", "running", "paused")


class QueueService:
    """Submits jobs to one library's queue."""

    def __init__(self, jobs: JobRepository, library: Library | None = None) -> None:
        self.jobs = jobs
        self.library = library  # for a training run's checks (its name is free)

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

    def submit_training(self, spec: TrainingSpec, *, project: str = "default") -> list[Job]:
        """Queue a training run. Checked now: the spec's fields, that no variant and no other
        waiting run has its name, and that its folder holds usable instance images. DreamBooth
        with prior preservation gets its class images made first, by ordinary generation jobs
        queued just before it (unless an earlier run made them). Returns every job queued:
        those class-image jobs, then the run (last)."""
        from core.training.dataset import load_instance_images
        from core.training.run import check_name_free

        spec.validate()
        if spec.mixed_precision != "no" or spec.device:
            from core.engine.device import select_device
            from core.training.precision import check_precision

            check_precision(spec.mixed_precision, select_device(spec.device))
        for job in self.jobs.list(_WAITING, limit=10_000):
            if job.kind == "train" and job.spec.name == spec.name:
                raise BadInput("name", f"{spec.name!r} is the name of queued training job {job.id}")
        new = []
        if self.library is not None:
            from core.training.prior import PROJECT
            from core.training.run import class_images_jobs

            check_name_free(self.library, spec.name)
            for request in class_images_jobs(spec, self.library):  # DreamBooth's class images
                new.append(NewJob(request, project=PROJECT))
        # the full size check needs the model's resolution: it runs again when the job starts
        load_instance_images(spec.images, spec.resolution or 8, spec.prompt)
        new.append(NewJob(spec, project=project))
        return self.jobs.add_many(new)

    def edit(self, job_id: int, request: GenerationRequest) -> None:
        """Change a queued job's request (checked, its seed fixed, as when it was submitted)."""
        self.jobs.edit(job_id, with_seed(request))  # the repository checks it


def _ready(new: NewJob) -> NewJob:
    if isinstance(new.request, TrainingSpec):
        new.request.validate()
        return new
    if new.failed_because is None:
        new.request.validate()
    return replace(new, request=with_seed(new.request))
