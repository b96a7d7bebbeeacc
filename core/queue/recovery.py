"""Crash recovery: jobs whose worker died go back to the queue; half-written files go away.

A running job belongs to a worker named `host:pid:token`. Its worker is gone when that process
no longer exists on this host, or when its heartbeat is older than `STALE_AFTER` (a worker on
another machine, or a hung one). Such a job is queued again, or failed once it has been started
`MAX_ATTEMPTS` times, so one poisonous job cannot crash workers forever.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from core.processes import process_alive
from core.queue.jobs import MAX_ATTEMPTS, JobRepository

STALE_AFTER = timedelta(seconds=60)


@dataclass(frozen=True)
class Recovered:
    job_id: int
    requeued: bool
    reason: str


def worker_name(token: str) -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{token}"


def worker_process(worker: str) -> tuple[str, int | None]:
    """The host and process id in a `worker_name` (pid None when it holds none)."""
    host, _, rest = worker.partition(":")
    pid_text = rest.split(":", 1)[0]
    return host, int(pid_text) if pid_text.isdigit() else None


def worker_alive(worker: str | None, heartbeat: datetime | None, now: datetime) -> bool:
    if not worker:
        return False
    host, pid = worker_process(worker)
    if host == socket.gethostname() and pid is not None and not process_alive(pid):
        return False
    if heartbeat is None:
        return False
    if heartbeat.tzinfo is None:
        heartbeat = heartbeat.replace(tzinfo=timezone.utc)
    return now - heartbeat < STALE_AFTER


def recover_and_clean(jobs: JobRepository) -> list[Recovered]:
    """`recover_jobs`, then the half-written files of every recovered job's output folder go:
    what a worker (local or a cluster's head) runs before it takes jobs, and now and then."""
    from pathlib import Path

    from core.library.store import clean_temporaries

    recovered = recover_jobs(jobs)
    for item in recovered:
        job = jobs.get(item.job_id)
        if job is not None and job.out_dir:
            clean_temporaries(Path(job.out_dir))
    return recovered


def recover_jobs(jobs: JobRepository, max_attempts: int = MAX_ATTEMPTS) -> list[Recovered]:
    """Requeue or fail every running job whose worker is gone."""
    now = datetime.now(timezone.utc)
    recovered = []
    for job_id, worker, heartbeat, attempts in jobs.running():
        if worker_alive(worker, heartbeat, now):
            continue
        give_up = attempts >= max_attempts
        reason = (
            f"the worker stopped while running it {attempts} times (last: {worker}); "
            "giving up so the rest of the queue can run"
            if give_up
            else f"its worker {worker} stopped; queued again (attempt {attempts} of {max_attempts})"
        )
        if jobs.recover(job_id, worker, give_up, reason):
            recovered.append(Recovered(job_id, not give_up, reason))
    return recovered
