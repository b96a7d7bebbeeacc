"""What the window works on: the open library, the queue, and (started late) the worker.

The queue's jobs run in a worker *process* (`core.queue.worker_process`), started after the
window is on screen (`start_worker`): loading a model holds Python's GIL for long stretches, and
in this process that froze the window. For the same reason "reproduce and verify" runs
`atelier reproduce ID --json` in a process of its own: this process never imports torch.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from desktop.bridge import WorkerBridge
from desktop.settings import Preferences

if TYPE_CHECKING:
    from core.library import Library
    from core.queue.jobs import Job
    from core.queue.worker_process import WorkerProcess
    from core.reproduce import ReproduceReport
    from core.request import GenerationRequest


class Session:
    def __init__(self, library: Library, prefs: Preferences) -> None:
        self.library = library
        self.prefs = prefs
        self.jobs = library.jobs
        self.bridge = WorkerBridge()
        self._worker: WorkerProcess | None = None
        self._retired: list[WorkerProcess] = []
        self._poll_s = 0.3  # stopping after a change of "Run on cluster"

    @property
    def home(self) -> Path:
        return self.library.home

    # ---- the worker ------------------------------------------------------------------------
    def start_worker(self, poll_s: float = 0.3) -> None:
        """Start the worker process: a local worker, or with "Run on cluster" a cluster head
        (without Ray installed: a local worker, and the window is told how to install it)."""
        if self._worker is not None:
            return
        from core.queue.cluster.pool import ray_missing
        from core.queue.worker_process import WorkerProcess

        ray = self.prefs.ray_address()
        if ray is not None and (missing := ray_missing()) is not None:
            self.bridge.worker_problem(f"Run on cluster: {missing}; jobs run on this machine")
            ray = None
        self._poll_s = poll_s
        self._worker = WorkerProcess(
            self.library,
            self.bridge.events(),
            poll_s=poll_s,
            heartbeat_s=0.5,
            exited=self.bridge.worker_exited,
            problem=self.bridge.worker_problem,
            ray=ray,
        )
        self._worker.start()

    @property
    def on_cluster(self) -> bool:
        """Whether the worker process runs a cluster head (asked for, and Ray is installed)."""
        return self._worker is not None and self._worker.ray is not None

    @property
    def worker_running(self) -> bool:
        return self._worker is not None

    def worker_busy(self) -> bool:
        """Whether the window's worker process is running a job now (a reproduce waits for it)."""
        from core.queue.recovery import worker_process

        pid = self._worker.pid if self._worker is not None else None
        if pid is None:
            return False
        running = self.jobs.list(("running",))
        return any(job.worker and worker_process(job.worker)[1] == pid for job in running)

    def ask_worker_to_stop(self) -> None:
        """Tell the worker to stop after its current step, without waiting: a closing window
        goes at once (`close` waits for the process later, with no window on screen)."""
        if self._worker is not None:
            self._worker.stop(wait=False)

    def stop_worker(self) -> None:
        if self._worker is not None:
            self._worker.stop(wait=True, timeout=60)
            self._worker = None
        while self._retired:
            self._retired.pop().stop(wait=True, timeout=60)

    def close(self) -> None:
        self.stop_worker()
        self.library.close()

    # ---- reproduce -------------------------------------------------------------------------
    def reproduce(self, output_id: int) -> ReproduceReport:
        """Run output `output_id` again and return its report (blocking: call it off the GUI
        thread). RuntimeError when it cannot: an unknown output, a crash.

        With the worker running, its process does it before its next job, with the models it
        has loaded: no second copy of a model in memory, and no start-up. Without one (not
        started, or given up after dying too often), a process of its own (`atelier reproduce
        --json`)."""
        from core.reproduce import ReproduceReport

        worker = self._worker
        if worker is not None and worker.running and worker.ray is None:
            return worker.reproduce(output_id)
        command = [sys.executable, "-m", "core.cli.main", "--home", str(self.home)]
        command += ["reproduce", str(output_id), "--json"]
        done = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        try:
            reports = json.loads(done.stdout)
            return ReproduceReport.from_dict(reports[0])
        except (ValueError, LookupError, TypeError):
            lines = done.stderr.strip().splitlines() or [f"exit status {done.returncode}"]
            raise RuntimeError(lines[-1]) from None

    # ---- queueing --------------------------------------------------------------------------
    def queue(
        self,
        request: GenerationRequest,
        copies: int = 1,
        project: str = "default",
        *,
        with_preferences: bool = True,
    ) -> list[Job]:
        """Add `copies` jobs for `request` (with the preferences' device options, unless told);
        each copy without a seed gets one of its own now, shown before it runs."""
        if with_preferences:
            request = request.replace(**self.prefs.request_changes())
        out_dir = self.prefs.output_folder or None
        added = self.library.queue.submit(request, project=project, out_dir=out_dir, copies=copies)
        self.wake_worker()
        return added

    def wake_worker(self) -> None:
        """Jobs were just added: an idle worker starts on them now, not at its next poll."""
        if self._worker is not None:
            self._worker.wake()

    def apply(self, prefs: Preferences) -> None:
        """New preferences; a change of "Run on cluster" (or its address) starts another worker
        process, the old one stopping after its current step (its job goes back to the queue)."""
        restart = self._worker is not None and prefs.ray_address() != self.prefs.ray_address()
        self.prefs = prefs
        if restart and self._worker is not None:
            self._worker.stop(wait=False)
            # who runs the jobs is the new process's to tell
            self._worker.events = replace(self._worker.events, workers=None)
            self._retired.append(self._worker)
            self._worker = None
            self.start_worker(self._poll_s)
