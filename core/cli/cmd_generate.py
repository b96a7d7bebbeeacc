"""`atelier generate`: make images now, record them, print where they went."""

from __future__ import annotations

import argparse
from pathlib import Path

from core.cli.options import (
    Subparsers,
    add_generate_options,
    add_json_option,
    open_library,
    print_json,
    request_from_args,
    set_handler,
)


def add_parser(sub: Subparsers) -> None:
    gen = sub.add_parser("generate", help="make images now and record them")
    add_generate_options(gen)
    gen.add_argument("--out", type=Path, help="also write the PNG files into this folder")
    add_json_option(gen, help="print the outputs as JSON")
    set_handler(gen, run, runs_engine=True)


def run(args: argparse.Namespace) -> int:
    from core.cli.progress import ProgressBar
    from core.generation import Generator

    request = request_from_args(args)
    request.validate()
    with open_library(args) as library:
        outputs = Generator(library).generate(
            request,
            project=args.project,
            out_dir=args.out,
            on_step=ProgressBar(f"{request.task} {request.model}"),
        )
    if args.json:
        print_json([o.to_dict() for o in outputs])
    else:
        for o in outputs:
            print(f"output {o.output_id} (seed {o.seed}): {o.path}")
    return 0
