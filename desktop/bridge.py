"""The one bridge: the core worker's callbacks -> Qt signals.

The worker runs in its own process; its events arrive on a reader thread of this process
(`core.queue.worker_process`). The bridge lives in the GUI thread. Its signals are emitted from
that thread and delivered
queued to slots of GUI-thread QObjects. Previews cross as copied QImages (QPixmaps are made only
in the GUI thread); jobs and outputs cross as plain frozen dataclasses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QImage

if TYPE_CHECKING:
    from core.engine.runner import StepProgress
    from core.generation import GeneratedOutput
    from core.queue.jobs import Job
    from core.queue.recovery import Recovered
    from core.queue.worker import WorkerEvents, WorkerStatus
    from core.training.loop import TrainingProgress


class WorkerBridge(QObject):
    jobStarted = Signal(object)  # Job
    step = Signal(object, int, int, object)  # Job, done, total, QImage | None
    jobDone = Signal(object, object)  # Job, list[GeneratedOutput]
    jobFailed = Signal(object, str, str)  # Job, error type, message
    jobCancelled = Signal(object)  # Job
    recovered = Signal(int)  # how many jobs crash recovery put back
    jobPaused = Signal(object)  # Job, held by a person (a training job kept its checkpoint)
    trainingStep = Signal(object, object)  # Job, TrainingProgress (step, total, loss, rate, ETA)
    samples = Signal(object, list)  # Job, the output ids of the samples a training job drew
    note = Signal(object, str)  # Job, what it says on the way (a warning, class images)
    workerExited = Signal(int, bool)  # the worker process's exit code, started again?
    workers = Signal(list)  # WorkerStatus of each worker: node, device, the job it runs
    workerProblem = Signal(str)  # what the worker process says about itself (a cluster lost)

    def events(self) -> WorkerEvents:
        from core.queue.worker import WorkerEvents

        return WorkerEvents(
            job_started=self._started,
            step=self._step,
            job_done=self._done,
            job_failed=self._failed,
            job_cancelled=self._cancelled,
            recovered=self._recovered,
            job_paused=self._paused,
            training_step=self._training_step,
            samples=self._samples,
            note=self._note,
            workers=self._workers,
        )

    # ---- called in the worker process's reader thread ---------------------------------------
    def _started(self, job: Job) -> None:
        self.jobStarted.emit(job)

    def _step(self, job: Job, progress: StepProgress) -> None:
        done = progress.call * progress.steps + progress.step
        total = max(1, progress.calls * progress.steps)
        image = pil_to_qimage(progress.preview) if progress.preview is not None else None
        self.step.emit(job, done, total, image)

    def _done(self, job: Job, outputs: list[GeneratedOutput]) -> None:
        self.jobDone.emit(job, list(outputs))

    def _failed(self, job: Job, kind: str, message: str) -> None:
        self.jobFailed.emit(job, kind, message)

    def _cancelled(self, job: Job) -> None:
        self.jobCancelled.emit(job)

    def _paused(self, job: Job) -> None:
        self.jobPaused.emit(job)

    def _training_step(self, job: Job, progress: TrainingProgress) -> None:
        self.trainingStep.emit(job, progress)

    def _samples(self, job: Job, output_ids: list[int]) -> None:
        self.samples.emit(job, list(output_ids))

    def _note(self, job: Job, text: str) -> None:
        self.note.emit(job, text)

    def _workers(self, workers: list[WorkerStatus]) -> None:
        self.workers.emit(list(workers))

    def _recovered(self, items: list[Recovered]) -> None:
        self.recovered.emit(len(items))

    def worker_exited(self, code: int, restarted: bool) -> None:
        self.workerExited.emit(code, restarted)

    def worker_problem(self, text: str) -> None:
        self.workerProblem.emit(text)


def pil_to_qimage(image: Any) -> QImage:
    """A PIL image as a QImage that owns its pixels (safe to hand to another thread)."""
    rgb = image.convert("RGB")
    data = rgb.tobytes()
    qimage = QImage(data, rgb.width, rgb.height, 3 * rgb.width, QImage.Format.Format_RGB888)
    copied: QImage = qimage.copy()
    return copied
