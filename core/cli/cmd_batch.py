"""`atelier batch DIR ...`: queue every image of a folder, keep watching it, or run it here."""

from __future__ import annotations

import argparse
import json
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from core.cli.options import (
    Subparsers,
    add_generate_options,
    add_json_option,
    open_library,
    request_from_args,
    set_handler,
)

if TYPE_CHECKING:
    from core.library import Library
    from core.queue.batch import FolderBatch
    from core.queue.jobs import Job

BATCH_TASKS = ("img2img", "inpaint", "upscale", "depth")


def add_parser(sub: Subparsers) -> None:
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
    add_json_option(batch)
    set_handler(batch, run, runs_engine=lambda args: bool(args.run))


def run(args: argparse.Namespace) -> int:
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
    with open_library(args) as library:
        batch = FolderBatch.open(library, spec)
        jobs = batch.scan()
        _report_jobs(jobs, args.json)
        print(f"batch {batch.id}: {len(jobs)} new jobs from {args.input_dir}", file=sys.stderr)
        if args.run:
            _run_batch(library, batch, args)
        elif args.watch:
            from core.cli.running import stop_on_interrupt

            stop = threading.Event()
            with stop_on_interrupt(stop):
                print("watching for new images (Ctrl-C stops)", file=sys.stderr)
                batch.watch(stop.is_set, lambda new: _report_jobs(new, args.json))
    return 0


def _run_batch(library: Library, batch: FolderBatch, args: argparse.Namespace) -> None:
    """Run the queue in this, the main, thread (with --watch, the folder is scanned in another);
    the first failed job ends the command with its message, after the others ran.

    On a CPU a worker thread other than the main one ran a 256x256 SD 1.5-sized image about 19%
    slower: glibc gives each thread its own malloc arena, whose heaps are at most 64 MB, so
    torch's large buffers came from fresh mmaps every step (8x the page faults).
    `atelier queue run` and the window's worker process run their worker here too.
    """
    from core.cli.running import FirstFailure, printing_events, stop_on_interrupt
    from core.queue.worker import Worker

    failures = FirstFailure()
    worker = Worker(library, events=printing_events(failures=failures))
    stop = threading.Event()
    watcher = None
    if args.watch:

        def found(new: list[Job]) -> None:
            _report_jobs(new, args.json)
            worker.wake()  # new files start now, not at the worker's next poll

        print("watching for new images (Ctrl-C stops)", file=sys.stderr)
        watcher = threading.Thread(
            target=batch.watch, args=(stop.is_set, found), name="atelier-watch", daemon=True
        )
        watcher.start()
    with stop_on_interrupt(stop, on_stop=lambda: worker.stop(wait=False)):
        try:
            worker.run(until_empty=not args.watch)
        finally:
            stop.set()
            if watcher is not None:
                watcher.join(5)
    failures.raise_if_any()


def _report_jobs(jobs: list[Job], as_json: bool) -> None:
    for j in jobs:
        if as_json:
            print(
                json.dumps({"job_id": j.id, "input": j.input_path, "status": j.status}), flush=True
            )
        else:
            state = "" if j.status == "queued" else f" ({j.status}: {j.error_message})"
            print(f"job {j.id}: {j.input_path}{state}", flush=True)
