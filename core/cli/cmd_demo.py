"""`atelier demo`: the demo grid and an image from every pipeline, on the built-in models."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core.cli.options import Subparsers, add_json_option, open_library, print_json, set_handler
from core.errors import AtelierError


def add_parser(sub: Subparsers) -> None:
    demo = sub.add_parser("demo", help="render demo images with the built-in models, offline")
    demo.add_argument(
        "--out", type=Path, default=Path("atelier-demo"), help="folder for the images"
    )
    add_json_option(demo)
    set_handler(demo, run, runs_engine=True)


def run(args: argparse.Namespace) -> int:
    from core.cli.progress import ProgressBar
    from core.demo_batch import run_demo

    out: Path = args.out.resolve()
    with open_library(args) as library:
        result = run_demo(
            library,
            out,
            on_progress=lambda text: print(text, file=sys.stderr),
            progress_for=ProgressBar,
        )
    made = result.made
    if args.json:
        print_json(
            {"grid": str(result.grid), "images": [{"name": n, **o.to_dict()} for n, o in made]}
        )
    else:
        for name, o in made:
            print(f"{name:28} {o.path}")
        print(f"\n{len(made)} demo images in {out}")
        print(f"the demo grid (prompts x guidance scale): {result.grid}")
    if not made:
        raise AtelierError("the demo made no image")
    return 0
