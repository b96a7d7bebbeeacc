"""`atelier grid`: an X/Y sweep, queued one job per cell, then drawn as a labelled grid."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from core.cli.main import add_generate_options, home_dir, request_from_args
from core.errors import BadInput


def add_parser(sub: Any) -> None:
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
    grid.add_argument("--json", action="store_true")


def run(args: argparse.Namespace) -> int:
    from core.library import Library
    from core.queue.sweep import assemble_grid, grid_pending, load_grid, parse_axis, queue_grid

    with Library.open(home_dir(args)) as library:
        if args.assemble is not None:
            grid_id = args.assemble
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
            raise BadInput("grid", f"grid {grid_id} has cells not done yet: jobs {pending[:10]}")
        path = assemble_grid(library, grid_id)
        grid = load_grid(library, grid_id)
        _print(args, {"grid_id": grid_id, "job_ids": grid.job_ids, "path": str(path)})
        return 0


def _run_until_done(library: Any, grid_id: int) -> None:
    from core.cli.cmd_queue import _printing_events
    from core.queue.sweep import grid_pending
    from core.queue.worker import Worker

    worker = Worker(library, events=_printing_events(sys.stderr))
    worker.recover()
    while grid_pending(library, grid_id):
        if not worker.run_one():
            failed = [j for j in grid_pending(library, grid_id) if _status(library, j) == "failed"]
            if failed or worker.jobs.is_paused():
                raise BadInput(
                    "grid", f"grid {grid_id} cannot finish: failed or paused jobs {failed}"
                )
            import time

            time.sleep(0.2)  # another worker has them; wait


def _status(library: Any, job_id: int) -> str | None:
    from core.queue.jobs import JobRepository

    job = JobRepository(library.db.session_factory).get(job_id)
    return job.status if job else None


def _print(args: argparse.Namespace, data: dict[str, Any]) -> None:
    if args.json:
        print(json.dumps(data, indent=2))
    elif data["path"]:
        print(data["path"])
