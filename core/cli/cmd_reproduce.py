"""`atelier reproduce`: run recorded outputs again and say whether the pixels are the same;
`--training-run RUN`: train a recorded training run again and compare the weights' fingerprint.

Exit 0 when every output reproduced exactly (or the weights match), 1 otherwise (close,
diverged, missing, failed, mismatch). The engine loads when the command runs, not when the
parser is built.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from core.cli.options import Subparsers, add_json_option, open_library, print_json, set_handler

if TYPE_CHECKING:
    from core.library.entities import Output

_HEX = re.compile(r"^(sha256:)?[0-9a-f]{64}$")


def add_parser(sub: Subparsers) -> None:
    """Add `reproduce` to the subparsers of the `atelier` parser."""
    p = sub.add_parser(
        "reproduce",
        help="run recorded outputs again and compare the pixels",
        description="Run recorded outputs again: exact (same pixels), close (PSNR >= 40 dB) or "
        "diverged, with the recorded fields that differ from now.",
    )
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("output_id", nargs="?", type=int, help="one output")
    which.add_argument("--run", type=int, dest="run_id", metavar="RUN_ID", help="a run's outputs")
    which.add_argument("--project", metavar="NAME", help="every output of a project")
    which.add_argument("--all", action="store_true", dest="all_outputs", help="every output")
    which.add_argument(
        "--training-run",
        metavar="RUN",
        help="train a training run again (its id, or the trained variant's name) and compare "
        "the weights' fingerprint",
    )
    add_json_option(p, help="print the reports as JSON")
    p.add_argument(
        "--keep", action="store_true", help="record the new images as outputs (same project)"
    )
    p.add_argument(
        "--threads",
        type=int,
        help="what-if: run with this many torch threads instead of the recorded count",
    )
    set_handler(p, run, runs_engine=True)


def run(args: argparse.Namespace) -> int:
    from core.cli.progress import ProgressBar
    from core.errors import BadInput
    from core.generation import Generator
    from core.reproduce import ReproduceReport, reproduce_output, select_outputs

    if args.threads is not None and args.threads < 1:
        raise BadInput("threads", f"{args.threads} is not a positive thread count")
    if args.training_run is not None:
        return _training_run(args)
    reports: list[ReproduceReport] = []
    with open_library(args) as library:
        generator = Generator(library)
        outputs: Iterable[int | Output] = (
            [args.output_id]
            if args.output_id is not None
            else select_outputs(library, run_id=args.run_id, project=args.project)
        )
        for output in outputs:
            label = f"output {output if isinstance(output, int) else output.id}"
            report = reproduce_output(
                library,
                generator,
                output,
                keep=args.keep,
                threads=args.threads,
                on_step=ProgressBar(label),
            )
            reports.append(report)
            if not args.json:
                print("\n".join(report_lines(report.to_dict())), flush=True)
    if args.json:
        print_json([r.to_dict() for r in reports])
    elif not reports:
        print("no outputs to reproduce")
    failed = [r for r in reports if r.status in ("failed", "missing")]
    if failed:
        why = failed[0].notes[0] if failed[0].notes else failed[0].status
        others = f" ({len(failed) - 1} others could not run either)" if len(failed) > 1 else ""
        print(f"atelier: error: output {failed[0].output_id}: {why}{others}", file=sys.stderr)
    return 0 if all(r.status == "exact" for r in reports) else 1


def _training_run(args: argparse.Namespace) -> int:
    from core.cli.progress import TrainingLine
    from core.errors import BadInput
    from core.training.reproduce import find_training_run, reproduce_training

    for flag, given in (("--keep", args.keep), ("--threads", args.threads is not None)):
        if given:
            raise BadInput(flag.lstrip("-"), "is for outputs; a training run runs as recorded")
    with open_library(args) as library:
        run = find_training_run(library, args.training_run)
        report = reproduce_training(
            library,
            run,
            on_progress=TrainingLine(f"reproduce training run {run.id}"),
            on_note=lambda text: print(text, file=sys.stderr),
        )
    if args.json:
        print_json(report.to_dict())
    else:
        print("\n".join(training_lines(report.to_dict())))
    return 0 if report.status == "match" else 1


def training_lines(report: dict[str, Any]) -> list[str]:
    """`training run 3 (zxq, lora): match, fingerprint 1a2b3c4d5e6f`, then the environment
    fields that differ from the recorded ones and the notes."""
    head = (
        f"training run {report['training_run']} ({report['variant']}, {report['method']}): "
        f"{report['status']}, fingerprint {report['fingerprint'][:12]}"
    )
    if report["status"] != "match":
        head += f" (recorded {report['recorded_fingerprint'][:12]})"
    lines = [head]
    for d in report["differences"]:
        lines.append(f"    {d['field']}: {_short(d['recorded'])} -> {_short(d['current'])}")
    lines.extend(f"    note: {note}" for note in report["notes"])
    return lines


def report_lines(report: dict[str, Any]) -> list[str]:
    """`output 12: close (PSNR 43.1 dB)`, then one indented line per difference and note."""
    head = f"output {report['output_id']}: {report['status']}"
    if report["psnr"] is not None:
        head += f" (PSNR {report['psnr']:.1f} dB)"
    if report["new_output_id"] is not None:
        head += f", kept as output {report['new_output_id']}"
    lines = [head]
    for d in report["differences"]:
        lines.append(f"    {d['field']}: {_short(d['recorded'])} -> {_short(d['current'])}")
    lines.extend(f"    note: {note}" for note in report["notes"])
    return lines


def _short(value: object) -> str:
    if value is None:
        return "(none)"
    text = str(value)
    if _HEX.match(text):
        return text[: text.find(":") + 13] + "..."
    return text if len(text) <= 80 else text[:77] + "..."
