"""`atelier queue ...` and `atelier batch ...`: the persistent queue from the command line."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

from core.cli.main import add_generate_options, home_dir, request_from_args
from core.errors import BadInput

BATCH_TASKS = ("img2img", "inpaint", "upscale", "depth")


def add_parsers(sub: Any) -> None:
    queue = sub.add_parser("queue", help="the persistent queue: add, list, run, pause, cancel...")
    qsub = queue.add_subparsers(dest="queue_command", metavar="ACTION", required=True)
    add = qsub.add_parser("add", help="queue a generation; prints the job id")
    add_generate_options(add)
    add.add_argument("--out", type=Path, help="also write the PNG files into this folder")
    add.add_argument("--json", action="store_true")
    lst = qsub.add_parser("list", help="jobs in queue order")
    lst.add_argument(
        "--status", action="append", choices=("queued", "running", "done", "failed", "cancelled")
    )
    lst.add_argument("--json", action="store_true")
    run = qsub.add_parser("run", help="run the queue in this terminal (Ctrl-C stops cleanly)")
    run.add_argument("--until-empty", action="store_true", help="stop when no job is left")
    qsub.add_parser("pause", help="stop starting new jobs (the running one finishes)")
    qsub.add_parser("resume", help="start jobs again")
    for name, text in (("cancel", "cancel a queued job, or a running one at its next step"),
                       ("retry", "queue a failed or cancelled job again")):  # fmt: skip
        p = qsub.add_parser(name, help=text)
        p.add_argument("job_id", type=int)
    move = qsub.add_parser("move", help="move a queued job to position N (1 runs next)")
    move.add_argument("job_id", type=int)
    move.add_argument("--to", type=int, required=True)
    clear = qsub.add_parser("clear", help="forget finished jobs (their images stay in history)")
    clear.add_argument("--done", action="store_true")
    clear.add_argument("--failed", action="store_true")
    clear.add_argument("--cancelled", action="store_true")

    batch = sub.add_parser("batch", help="queue every image of a folder (and --watch for new ones)")
    batch.add_argument("input_dir", type=Path)
    add_generate_options(batch, tasks=BATCH_TASKS, default_task=None)
    batch.add_argument(
        "--glob", default="*", help="which files of the folder (default: all images)"
    )
    batch.add_argument("--masks", type=Path, help="folder of masks, paired by file stem")
    batch.add_argument("--depth-maps", type=Path, help="folder of depth maps, paired by file stem")
    batch.add_argument(
        "--prompt-from",
        choices=("sidecar", "metadata"),
        help="per-image prompt from NAME.txt, or from the image's own metadata",
    )
    batch.add_argument(
        "--out", type=Path, required=True, help="output folder (files named after inputs)"
    )
    batch.add_argument("--watch", action="store_true", help="keep adding images that appear later")
    batch.add_argument("--run", action="store_true", help="also run the queue in this process")
    batch.add_argument("--json", action="store_true")


def dispatch(args: argparse.Namespace) -> int:
    from core.library import Library
    from core.queue.jobs import JobRepository

    with Library.open(home_dir(args)) as library:
        jobs = JobRepository(library.db.session_factory)
        if args.command == "batch":
            return _batch(library, args)
        action = args.queue_command
        if action == "add":
            return _add(jobs, args)
        if action == "list":
            return _list(jobs, args)
        if action == "run":
            return _run(library, until_empty=args.until_empty)
        if action in ("pause", "resume"):
            jobs.set_paused(action == "pause")
            print("queue paused: the running job finishes, no new one starts" if action == "pause"
                  else "queue resumed")  # fmt: skip
            return 0
        if action == "cancel":
            what = jobs.cancel(args.job_id)
            print(f"job {args.job_id}: {what}")
            return 0
        if action == "retry":
            jobs.retry(args.job_id)
            print(f"job {args.job_id}: queued again")
            return 0
        if action == "move":
            jobs.move(args.job_id, args.to)
            print(f"job {args.job_id}: moved to position {args.to}")
            return 0
        statuses = tuple(s for s in ("done", "failed", "cancelled") if getattr(args, s))
        if not statuses:
            raise BadInput("clear", "say which: --done, --failed and/or --cancelled")
        print(f"cleared {jobs.clear(statuses)} jobs")
        return 0


def _add(jobs: Any, args: argparse.Namespace) -> int:
    import secrets

    from core.queue.jobs import NewJob

    request = request_from_args(args)
    if request.seed is None:  # fixed now, so the job makes the same images whenever it runs
        request = request.replace(seed=secrets.randbelow(2**32))
    request.validate()
    job = jobs.add(
        NewJob(request, project=args.project, out_dir=str(args.out.resolve()) if args.out else None)
    )
    print(json.dumps({"job_id": job.id}) if args.json else job.id)
    return 0


def _list(jobs: Any, args: argparse.Namespace) -> int:
    listed = jobs.list(tuple(args.status) if args.status else None, limit=10_000)
    if args.json:
        print(
            json.dumps([j.to_dict() for j in listed], indent=2, sort_keys=True, ensure_ascii=False)
        )
        return 0
    paused = " (paused)" if jobs.is_paused() else ""
    counts = jobs.counts()
    print(f"queue{paused}: " + ", ".join(f"{n} {s}" for s, n in counts.items() if n))
    for j in listed:
        what = j.input_path or j.request.prompt[:40]
        line = f"{j.id:6} {j.status:9} {j.request.task:8} {j.request.model:18} {what}"
        if j.error_message:
            line += f"\n       {j.error_type}: {j.error_message}"
        print(line)
    return 0


def _batch(library: Any, args: argparse.Namespace) -> int:
    from core.queue.batch import BatchSpec, FolderBatch

    spec = BatchSpec(
        input_dir=args.input_dir,
        template=request_from_args(args),
        out_dir=args.out,
        pattern=args.glob,
        masks_dir=args.masks,
        depth_dir=args.depth_maps,
        prompt_from=args.prompt_from,
        project=args.project,
        watch=args.watch,
    )
    batch = FolderBatch.open(library, spec)
    jobs = batch.scan()
    _report_jobs(jobs, args.json)
    print(f"batch {batch.id}: {len(jobs)} new jobs from {args.input_dir}", file=sys.stderr)
    if not args.watch and not args.run:
        return 0
    stop = threading.Event()
    if args.run:
        _run_batch(library, batch, args, stop)
        return 0
    with _stop_on_interrupt(stop):
        print("watching for new images (Ctrl-C stops)", file=sys.stderr)
        batch.watch(stop.is_set, lambda new: _report_jobs(new, args.json))
    return 0


def _run_batch(library: Any, batch: Any, args: argparse.Namespace, stop: threading.Event) -> None:
    """Run the queue in this, the main, thread (with --watch, the folder is scanned in another).

    On a CPU a worker thread other than the main one ran a 256x256 SD 1.5-sized image about 19%
    slower: glibc gives each thread its own malloc arena, whose heaps are at most 64 MB, so
    torch's large buffers came from fresh mmaps every step (8x the page faults).
    `atelier queue run` and the window's worker process run their worker here too.
    """
    from core.queue.worker import Worker

    worker = Worker(library, events=_printing_events())
    watcher = None
    if args.watch:

        def found(new: list[Any]) -> None:
            _report_jobs(new, args.json)
            worker.wake()  # new files start now, not at the worker's next poll

        print("watching for new images (Ctrl-C stops)", file=sys.stderr)
        watcher = threading.Thread(
            target=batch.watch, args=(stop.is_set, found), name="atelier-watch", daemon=True
        )
        watcher.start()
    with _stop_on_interrupt(stop, on_stop=lambda: worker.stop(wait=False)):
        try:
            worker.run(until_empty=not args.watch)
        finally:
            stop.set()
            if watcher is not None:
                watcher.join(5)


def _report_jobs(jobs: list[Any], as_json: bool) -> None:
    for j in jobs:
        if as_json:
            print(
                json.dumps({"job_id": j.id, "input": j.input_path, "status": j.status}), flush=True
            )
        else:
            state = "" if j.status == "queued" else f" ({j.status}: {j.error_message})"
            print(f"job {j.id}: {j.input_path}{state}", flush=True)


def _run(library: Any, until_empty: bool) -> int:
    from core.queue.worker import Worker

    waiting = None if until_empty else "queue empty: waiting for jobs (Ctrl-C stops)"
    worker = Worker(library, events=_printing_events(waiting=waiting))
    stop = threading.Event()
    with _stop_on_interrupt(stop, on_stop=lambda: worker.stop(wait=False)):
        stats = worker.run(until_empty=until_empty)
    print(f"{stats.done} done, {stats.failed} failed, {stats.cancelled} cancelled; "
          f"{stats.outputs} images", file=sys.stderr)  # fmt: skip
    if worker.jobs.is_paused():
        queued = worker.jobs.counts()["queued"]
        if queued:
            print(f"the queue is paused: {queued} queued jobs wait for `atelier queue resume`",
                  file=sys.stderr)  # fmt: skip
    return 1 if stats.failed else 0


def _printing_events(stream: Any = None, waiting: str | None = None) -> Any:
    """Worker events as lines (on stdout unless `stream` says otherwise) and progress bars.

    Going idle prints `waiting` on stderr (when given), and a paused queue always says so: a
    worker that sits silent looks hung."""
    from core.cli.progress import ProgressBar
    from core.queue.worker import WorkerEvents

    bars: dict[int, ProgressBar] = {}

    def started(job: Any) -> None:
        bars[job.id] = ProgressBar(f"job {job.id}")

    def step(job: Any, event: Any) -> None:
        bars[job.id](event)

    def done(job: Any, outputs: list[Any]) -> None:
        for o in outputs:
            print(
                f"job {job.id}: output {o.output_id} -> {o.path}",
                file=stream or sys.stdout,
                flush=True,
            )

    def failed(job: Any, kind: str, message: str) -> None:
        print(f"job {job.id}: FAILED ({kind}) {message}", file=stream or sys.stdout, flush=True)

    def cancelled(job: Any) -> None:
        print(f"job {job.id}: cancelled", file=stream or sys.stdout, flush=True)

    def recovered(items: list[Any]) -> None:
        for item in items:
            print(f"job {item.job_id}: {item.reason}", file=sys.stderr, flush=True)

    def idle(paused: bool) -> None:
        if paused:
            print("queue paused: no job starts until `atelier queue resume` (Ctrl-C stops)",
                  file=sys.stderr, flush=True)  # fmt: skip
        elif waiting is not None:
            print(waiting, file=sys.stderr, flush=True)

    return WorkerEvents(started, step, done, failed, cancelled, recovered, idle)


@contextmanager
def _stop_on_interrupt(stop: threading.Event, on_stop: Any = None) -> Iterator[None]:
    """The first Ctrl-C (or SIGTERM) stops cleanly at the next step; a second one is immediate."""

    def handler(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        print("\nstopping (a running job stops at its next step and stays queued)...",
              file=sys.stderr)  # fmt: skip
        if on_stop is not None:
            on_stop()

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
