"""What the window works on: the open library, the queue, and (started late) the worker.

The queue's jobs run in a worker *process* (`core.queue.worker_process`), started after the
window is on screen (`start_worker`): loading a model holds Python's GIL for long stretches, and
in this process that froze the window. Only "reproduce and verify" builds an engine here, in a
pool thread, when the user asks for it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from desktop.bridge import WorkerBridge
from desktop.settings import Preferences

if TYPE_CHECKING:
    from core.generation import Generator
    from core.library import Library
    from core.queue.jobs import Job
    from core.queue.worker_process import WorkerProcess
    from core.request import GenerationRequest


class Session:
    def __init__(self, library: Library, prefs: Preferences) -> None:
        from core.queue.jobs import JobRepository

        self.library = library
        self.prefs = prefs
        self.jobs = JobRepository(library.db.session_factory)
        self.bridge = WorkerBridge()
        self._generator: Generator | None = None
        self._worker: WorkerProcess | None = None

    @property
    def home(self) -> Path:
        return self.library.home

    # ---- the worker ------------------------------------------------------------------------
    def generator(self) -> Generator:
        """An engine in this process, for reproduce-and-verify (queued jobs run in the worker)."""
        if self._generator is None:
            from core.engine.runner import Engine
            from core.generation import Generator

            self._generator = Generator(self.library, Engine())
        return self._generator

    def start_worker(self, poll_s: float = 0.3) -> None:
        if self._worker is not None:
            return
        from core.queue.worker_process import WorkerProcess

        self._worker = WorkerProcess(
            self.library,
            self.bridge.events(),
            poll_s=poll_s,
            heartbeat_s=0.5,
            exited=self.bridge.worker_exited,
        )
        self._worker.start()

    @property
    def worker_running(self) -> bool:
        return self._worker is not None

    def stop_worker(self) -> None:
        if self._worker is not None:
            self._worker.stop(wait=True, timeout=60)
            self._worker = None

    def close(self) -> None:
        self.stop_worker()
        self.library.close()

    # ---- queueing --------------------------------------------------------------------------
    def queue(
        self,
        request: GenerationRequest,
        copies: int = 1,
        project: str = "default",
        *,
        with_preferences: bool = True,
    ) -> list[Job]:
        """Add `copies` jobs for `request` (with the preferences' device options, unless told)."""
        from core.queue.jobs import NewJob

        if with_preferences:
            request = request.replace(**self.prefs.request_changes())
        request.validate()
        out_dir = self.prefs.output_folder or None
        new = [NewJob(request, project=project, out_dir=out_dir) for _ in range(copies)]
        return self.jobs.add_many(new)

    def apply(self, prefs: Preferences) -> None:
        self.prefs = prefs

    def describe(self) -> dict[str, Any]:
        return {"home": str(self.home), "worker": self.worker_running}
