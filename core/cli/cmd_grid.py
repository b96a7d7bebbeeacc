"""`atelier grid`: an X/Y sweep, queued one job per cell, then drawn as a labelled grid."""

from __future__ import annotations

import argparse
import json
import sys
import time
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
from core.errors import BadInput, JobFailed

if TYPE_CHECKING:
    from core.library import Library


def add_parser(sub: Subparsers) -> None:
    grid = sub.add_parser(
        "grid",
        help="X/Y sweep over one or two parameters: a job per cell and a labelled grid image",
        description="Queue one job per cell of PARAM values (cfg, steps, seed, scheduler, "
        "strength, prompt, negative, model, ...), run them, and write a labelled grid image. "
        "Values are comma-separated, or |-separated when they hold commas.",
    )
    grid.add_argument("--x", metavar="PARAM=V1,V2,...", help="the columns")
    grid.add_argument("--y", metavar="PARAM=V1,V2,...", help="the rows (optional)")
    add_generate_options(grid, model_required=False)
    grid.add_argument("--out", type=Path, help="folder for the cells and the grid image")
    grid.add_argument("--no-run", action="store_true", help="only queue the cells")
    grid.add_argument("--assemble", type=int, metavar="GRID_ID", help="draw a queued grid now")
    add_json_option(grid)
    set_handler(grid, run, runs_engine=True)


def run(args: argparse.Namespace) -> int:
    from core.queue.sweep import assemble_grid, grid_pending, load_grid, parse_axis, queue_grid

    with open_library(args) as library:
        if args.assemble is not None:
            grid_id: int = args.assemble
        else:
            if not args.x or not args.model:
                raise BadInput(
                    "grid", "--x PARAM=V1,V2,... and --model are needed (or --assemble ID)"
                )
            template = request_from_args(args)
            x = parse_axis(args.x, template)
            y = parse_axis(args.y, template) if args.y else None
            grid = queue_grid(library, template, x, y, project=args.project, out_dir=args.out)
            grid_id = grid.id
            cells = sum(len(r) for r in grid.job_ids)
            print(f"grid {grid_id}: {cells} jobs queued", file=sys.stderr)
            if args.no_run:
                then = f"atelier grid --assemble {grid_id}"
                print(
                    f"run them with `atelier queue run --until-empty`, then `{then}`",
                    file=sys.stderr,
                )
                _print(args, {"grid_id": grid_id, "job_ids": grid.job_ids, "path": None})
                return 0
            _run_until_done(library, grid_id)
        pending = grid_pending(library, grid_id)
        if pending:
            _raise_first_failure(library, pending)
            raise BadInput("grid", f"grid {grid_id} has cells not done yet: jobs {pending[:10]}")
        path = assemble_grid(library, grid_id)
        grid = load_grid(library, grid_id)
        _print(args, {"grid_id": grid_id, "job_ids": grid.job_ids, "path": str(path)})
        return 0


def _run_until_done(library: Library, grid_id: int) -> None:
    """Run the grid's cells here (and whatever else is queued before them); a failed cell ends
    the command with its message once nothing else can run."""
    from core.cli.running import printing_events
    from core.queue.sweep import grid_pending
    from core.queue.worker import Worker

    worker = Worker(library, events=printing_events(sys.stderr))
    worker.recover()
    while pending := grid_pending(library, grid_id):
        if not worker.run_one():
            _raise_first_failure(library, pending)
            if worker.jobs.is_paused():
                raise BadInput("grid", f"grid {grid_id} cannot finish: the queue is paused")
            time.sleep(0.2)  # another worker has them; wait


def _raise_first_failure(library: Library, job_ids: list[int]) -> None:
    """A failed cell ends the grid with its message; a cancelled or missing one, with its id."""
    cells = [(j, library.jobs.get(j)) for j in job_ids]
    failed = [job for _, job in cells if job is not None and job.status == "failed"]
    if failed:
        first = failed[0]
        raise JobFailed(first.id, first.error_message or "no message", others=len(failed) - 1)
    lost = [j for j, job in cells if job is None or job.status == "cancelled"]
    if lost:
        raise BadInput("grid", f"cells cancelled or cleared from the queue: jobs {lost[:10]}")


def _print(args: argparse.Namespace, data: dict[str, object]) -> None:
    if args.json:
        print(json.dumps(data, indent=2))
    elif data["path"]:
        print(data["path"])
