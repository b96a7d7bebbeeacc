"""`atelier queue ...`: the persistent queue from the command line."""

from __future__ import annotations

import argparse
import json
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.choices import FINISHED_JOB_STATES, JOB_STATES
from core.cli.options import (
    Subparsers,
    add_generate_options,
    add_json_option,
    open_library,
    print_json,
    request_from_args,
    run_action,
    set_action,
    set_handler,
)
from core.errors import BadInput

if TYPE_CHECKING:
    from core.queue.jobs import JobRepository


def add_parser(sub: Subparsers) -> None:
    queue = sub.add_parser("queue", help="the persistent queue: add, list, run, pause, cancel...")
    set_handler(queue, run)
    qsub = queue.add_subparsers(dest="queue_command", metavar="ACTION", required=True)
    add = qsub.add_parser("add", help="queue a generation; prints the job id")
    add_generate_options(add)
    add.add_argument("--out", type=Path, help="also write the PNG files into this folder")
    add_json_option(add)
    set_action(add, _add)
    lst = qsub.add_parser("list", help="jobs in queue order")
    lst.add_argument("--status", action="append", choices=JOB_STATES)
    add_json_option(lst)
    set_action(lst, _list)
    running = qsub.add_parser("run", help="run the queue in this terminal (Ctrl-C stops cleanly)")
    running.add_argument("--until-empty", action="store_true", help="stop when no job is left")
    running.add_argument(
        "--ray",
        nargs="?",
        const="auto",
        metavar="ADDRESS",
        help="run the jobs on a Ray cluster (this machine is the head and keeps the library): "
        "ADDRESS of its head (default: the one `ray start` left here), or `local` to start one "
        "for this machine alone. Needs `pip install 'atelier[ray]'` (docs/cluster.md)",
    )
    set_action(running, _run, runs_engine=True)
    pause = qsub.add_parser(
        "pause", help="stop starting new jobs (the running one finishes); with JOB_ID, hold it"
    )
    pause.add_argument(
        "job_id", type=int, nargs="?", help="hold this job (a running one stops at its next step; "
        "a training run keeps its checkpoint)"
    )  # fmt: skip
    set_action(pause, _pause)
    resume = qsub.add_parser("resume", help="start jobs again; with JOB_ID, queue a held job")
    resume.add_argument("job_id", type=int, nargs="?")
    set_action(resume, _resume)
    cancel = qsub.add_parser("cancel", help="cancel a queued job, or a running one at next step")
    cancel.add_argument("job_id", type=int)
    set_action(cancel, _cancel)
    retry = qsub.add_parser("retry", help="queue a failed or cancelled job again")
    retry.add_argument("job_id", type=int)
    set_action(retry, _retry)
    move = qsub.add_parser("move", help="move a queued job to position N (1 runs next)")
    move.add_argument("job_id", type=int)
    move.add_argument("--to", type=int, required=True)
    set_action(move, _move)
    clear = qsub.add_parser("clear", help="forget finished jobs (their images stay in history)")
    for status in FINISHED_JOB_STATES:
        clear.add_argument(f"--{status}", action="store_true")
    set_action(clear, _clear)


def run(args: argparse.Namespace) -> int:
    return run_action(args)


def _run(args: argparse.Namespace) -> int:
    """`atelier queue run`: run the queue in this, the main, thread; exit 1 with the first
    failure's message when a job failed."""
    from core.cli.running import FirstFailure, printing_events, stop_on_interrupt
    from core.queue.worker import Worker, WorkerStats

    until_empty: bool = args.until_empty
    waiting = None if until_empty else "queue empty: waiting for jobs (Ctrl-C stops)"
    failures = FirstFailure()
    if args.ray is not None:
        from core.queue.cluster.pool import require_ray

        require_ray()  # before the library opens: a clear message, exit code 2
    with open_library(args) as library:
        events = printing_events(waiting=waiting, failures=failures)
        stop = threading.Event()
        if args.ray is not None:
            from core.queue.cluster.head import ClusterHead
            from core.queue.cluster.pool import connect

            head = ClusterHead(library, connect(args.ray), events)
            with stop_on_interrupt(stop, on_stop=head.stop):
                stats: WorkerStats = head.run(until_empty=until_empty)
        else:
            worker = Worker(library, events=events)
            with stop_on_interrupt(stop, on_stop=lambda: worker.stop(wait=False)):
                stats = worker.run(until_empty=until_empty)
        print(f"{stats.done} done, {stats.failed} failed, {stats.cancelled} cancelled; "
              f"{stats.outputs} images", file=sys.stderr)  # fmt: skip
        queued = library.jobs.counts()["queued"] if library.jobs.is_paused() else 0
        training = sum(j.kind == "train" for j in library.jobs.list(("queued",), limit=10_000))
    if args.ray is not None and training:
        print(f"{training} training jobs wait for a local worker (`atelier queue run` on this "
              "machine): the cluster runs generation jobs", file=sys.stderr)  # fmt: skip
    if queued:
        print(f"the queue is paused: {queued} queued jobs wait for `atelier queue resume`",
              file=sys.stderr)  # fmt: skip
    failures.raise_if_any()
    return 0


@contextmanager
def _jobs(args: argparse.Namespace) -> Iterator[JobRepository]:
    with open_library(args) as library:
        yield library.jobs


def _add(args: argparse.Namespace) -> int:
    request = request_from_args(args)
    out_dir = str(args.out.resolve()) if args.out else None
    with open_library(args) as library:  # the seed is fixed now: the same images whenever it runs
        [job] = library.queue.submit(request, project=args.project, out_dir=out_dir)
    print(json.dumps({"job_id": job.id, "seed": job.seed}) if args.json else job.id)
    return 0


def _list(args: argparse.Namespace) -> int:
    with _jobs(args) as jobs:
        listed = jobs.list(tuple(args.status) if args.status else None, limit=10_000)
        if args.json:
            print_json([j.to_dict() for j in listed])
            return 0
        paused = " (paused)" if jobs.is_paused() else ""
        counts = jobs.counts()
    print(f"queue{paused}: " + (", ".join(f"{n} {s}" for s, n in counts.items() if n) or "empty"))
    for j in listed:
        what = j.input_path or j.work.prompt[:40]
        seed = f"seed {j.seed}"  # fixed when queued: the images it will make
        line = f"{j.id:6} {j.status:9} {j.task:8} {j.model:18} {seed:16} {what}"
        if j.kind == "train":
            line += f"  -> {j.spec.name}"
        if j.status == "running" and j.progress:
            line += f"\n       {_progress_line(j.progress)}"
        if j.error_message:
            line += f"\n       {j.error_type}: {j.error_message}"
        print(line)
    return 0


def _progress_line(progress: dict[str, Any]) -> str:
    from core.training.loop import TrainingProgress

    try:
        return TrainingProgress(**progress).line()
    except TypeError:
        return ", ".join(f"{k} {v}" for k, v in sorted(progress.items()))


def _pause(args: argparse.Namespace) -> int:
    with _jobs(args) as jobs:
        if args.job_id is not None:
            print(f"job {args.job_id}: {jobs.pause(args.job_id)}")
            return 0
        jobs.set_paused(True)
    print("queue paused: the running job finishes, no new one starts")
    return 0


def _resume(args: argparse.Namespace) -> int:
    with _jobs(args) as jobs:
        if args.job_id is not None:
            jobs.resume(args.job_id)
            print(f"job {args.job_id}: queued again")
            return 0
        jobs.set_paused(False)
    print("queue resumed")
    return 0


def _cancel(args: argparse.Namespace) -> int:
    with _jobs(args) as jobs:
        what = jobs.cancel(args.job_id)
    print(f"job {args.job_id}: {what}")
    return 0


def _retry(args: argparse.Namespace) -> int:
    with _jobs(args) as jobs:
        jobs.retry(args.job_id)
    print(f"job {args.job_id}: queued again")
    return 0


def _move(args: argparse.Namespace) -> int:
    with _jobs(args) as jobs:
        jobs.move(args.job_id, args.to)
    print(f"job {args.job_id}: moved to position {args.to}")
    return 0


def _clear(args: argparse.Namespace) -> int:
    statuses = tuple(s for s in FINISHED_JOB_STATES if getattr(args, s))
    if not statuses:
        raise BadInput("clear", "say which: --done, --failed and/or --cancelled")
    with _jobs(args) as jobs:
        cleared = jobs.clear(statuses)
    print(f"cleared {cleared} jobs")
    return 0
