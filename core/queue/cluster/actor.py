"""What runs on each cluster worker: the engine, with its own pipeline cache, and nothing else.

An actor never opens the library or writes a file: it gets a job prepared by the head, runs
the engine, and hands back the images and what the record needs (the request as it ran here,
this machine's environment). A job whose model it lacks comes back as `MissingModel`, before any
work; the head then sends the model (`receive_model`) or skips this worker for it. The class is
plain Python; `pool` makes it a Ray actor.
"""

from __future__ import annotations

import os
import platform
import threading
from dataclasses import dataclass
from typing import Any

from core.engine.runner import EngineResult, StepProgress
from core.errors import Cancelled
from core.generation import PreparedRequest, for_this_machine, run_environment, run_prepared
from core.models.resolve import ResolvedModel
from core.request import GenerationRequest


@dataclass(frozen=True)
class RemoteJob:
    job_id: int
    asked: GenerationRequest  # as queued: what it left open, this worker chooses
    prepared: PreparedRequest  # resolved and checked on the head; inputs already read


@dataclass(frozen=True)
class RemoteResult:
    job_id: int
    request: GenerationRequest  # as it ran here: device, dtype and threads of this worker
    result: EngineResult
    environment: dict[str, Any]  # core.records.environment_fingerprint of this worker


@dataclass(frozen=True)
class MissingModel:
    job_id: int
    model: ResolvedModel  # as the head resolved it


@dataclass(frozen=True)
class WorkerInfo:
    node_id: str
    host: str
    pid: int
    threads: int
    env: dict[str, str]  # what its process started with: OMP_NUM_THREADS, GLIBC_TUNABLES


class GenerationActor:
    """One per GPU (or per CPU-only node). `run` calls execute one at a time, in order;
    `progress` and `cancel` answer in between (Ray's "control" concurrency group)."""

    def __init__(self, threads: int) -> None:
        import torch

        from core.engine.runner import Engine
        from core.queue.cluster.models import ModelStore

        torch.set_num_threads(threads)  # Ray starts workers with OMP_NUM_THREADS=1
        self.threads = threads
        self.engine = Engine()
        self.store = ModelStore.from_env()
        self._lock = threading.Lock()
        self._cancels: dict[int, threading.Event] = {}
        self._cancelled: set[int] = set()  # asked before the job started here
        self._progress: dict[int, StepProgress] = {}

    def describe(self) -> WorkerInfo:
        env = {k: os.environ[k] for k in ("OMP_NUM_THREADS", "GLIBC_TUNABLES") if k in os.environ}
        return WorkerInfo(_node_id(), platform.node(), os.getpid(), self.threads, env)

    def run(self, job: RemoteJob) -> RemoteResult | MissingModel:
        prepared = job.prepared
        model = self.store.find(prepared.model)
        if model is None:
            return MissingModel(job.job_id, prepared.model)
        refiner = None
        if prepared.refiner is not None:
            refiner = self.store.find(prepared.refiner)
            if refiner is None:
                return MissingModel(job.job_id, prepared.refiner)
        here = for_this_machine(
            PreparedRequest(prepared.request, model, refiner, prepared.inputs), job.asked
        )
        cancel = threading.Event()
        with self._lock:
            if job.job_id in self._cancelled:
                raise Cancelled("cancelled before it started")
            self._cancels[job.job_id] = cancel
        try:
            result = run_prepared(
                self.engine,
                here,
                on_step=lambda event: self._step(job.job_id, event),
                cancel=cancel,
                previews=False,
            )
        finally:
            with self._lock:
                self._cancels.pop(job.job_id, None)
                self._progress.pop(job.job_id, None)
        return RemoteResult(job.job_id, here.request, result, run_environment(here.request))

    def receive_model(self, model: ResolvedModel, package: list[Any]) -> str | None:
        """Take a model the head sent (`package`: one object-store reference to its tar);
        None when it is kept, else why not."""
        import ray

        from core.errors import AtelierError

        try:
            self.store.receive(model, ray.get(package[0]))
        except (AtelierError, OSError) as exc:
            return str(exc)
        return None

    def progress(self) -> list[tuple[int, StepProgress]]:
        """The latest step of each running job since the last call."""
        with self._lock:
            events = list(self._progress.items())
            self._progress.clear()
        return events

    def cancel(self, job_id: int) -> None:
        with self._lock:
            event = self._cancels.get(job_id)
            if event is None:
                self._cancelled.add(job_id)
            else:
                event.set()

    def _step(self, job_id: int, event: StepProgress) -> None:
        with self._lock:
            self._progress[job_id] = event


def _node_id() -> str:
    try:
        import ray

        return str(ray.get_runtime_context().get_node_id())
    except Exception:  # not inside Ray (a test of the plain class)
        return platform.node()
