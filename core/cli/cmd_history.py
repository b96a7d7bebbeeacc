"""`atelier history ...`: list, search, export, delete and show the outputs made so far."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

from core.choices import TASKS
from core.cli.options import (
    Subparsers,
    add_json_option,
    open_library,
    print_json,
    run_action,
    set_action,
    set_handler,
)
from core.errors import BadInput

if TYPE_CHECKING:
    from datetime import datetime

    from core.library import Library
    from core.library.entities import Output
    from core.library.history import History, HistoryFilter


class OutputSummary(TypedDict):
    """One line of `history list` and `history search` (`--json`: one object)."""

    output_id: int
    run_id: int
    path: str
    seed: int
    sha256: str
    created_at: str
    project: str
    task: str | None
    model: str | None
    prompt: str


def add_parser(sub: Subparsers) -> None:
    hist = sub.add_parser("history", help="outputs made so far")
    set_handler(hist, run)
    hsub = hist.add_subparsers(dest="history_command", metavar="ACTION", required=True)
    hl = hsub.add_parser("list", help="newest outputs first")
    hl.add_argument("--project")
    _add_paging(hl)
    set_action(hl, _list)
    hq = hsub.add_parser("search", help="full-text search over prompts and negative prompts")
    hq.add_argument("text")
    _add_filters(hq)
    _add_paging(hq)
    set_action(hq, _search)
    he = hsub.add_parser("export", help="every output (or the filtered ones) as JSON or CSV")
    he.add_argument("--format", choices=("json", "csv"), default="json")
    he.add_argument("--search", metavar="TEXT", help="only outputs whose prompts match")
    _add_filters(he)
    he.add_argument("--out", type=Path, help="write to this file (default: standard output)")
    set_action(he, _export)
    hd = hsub.add_parser("delete", help="remove outputs from history and their store files")
    hd.add_argument("output_ids", type=int, nargs="+", metavar="OUTPUT_ID")
    set_action(hd, _delete)
    hs = hsub.add_parser("show", help="the full record of one output")
    hs.add_argument("output_id", type=int)
    add_json_option(hs)
    set_action(hs, _show)


def run(args: argparse.Namespace) -> int:
    return run_action(args)


def _add_paging(p: argparse.ArgumentParser) -> None:
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--offset", type=int, default=0)
    add_json_option(p)


def _add_filters(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", help="model name as requested")
    p.add_argument("--task", choices=TASKS)
    p.add_argument("--project")
    p.add_argument("--since", help="YYYY-MM-DD (or a full ISO time, UTC)")


def _list(args: argparse.Namespace) -> int:
    with open_library(args) as library:
        outputs = library.runs.list_outputs(
            offset=args.offset, limit=args.limit, project=args.project
        )
    rows = [summary(o) for o in outputs]
    if args.json:
        print_json(rows)
        return 0
    for r in rows:
        print(
            f"{r['output_id']:6}  {r['created_at'][:19]}  {r['task']!s:8} "
            f"{r['model']!s:18} seed {r['seed']:<10}  {r['prompt'][:40]!r}"
        )
    return 0


def _search(args: argparse.Namespace) -> int:
    with open_library(args) as library:
        history, flt = _history(library, args, args.text)
        rows = [summary(o) for o in history.search(flt, args.offset, args.limit)]
        total = history.count(flt)
    if args.json:
        print_json(rows)
        return 0
    for r in rows:
        when, prompt = r["created_at"][:19], r["prompt"][:60]
        print(f"{r['output_id']:6}  {when}  {r['task']!s:8} {prompt!r}")
    print(f"{len(rows)} of {total} matching outputs", file=sys.stderr)
    return 0


def _export(args: argparse.Namespace) -> int:
    from core.library.history import export_csv, export_row

    out = open(args.out, "w", encoding="utf-8", newline="") if args.out else sys.stdout  # noqa: SIM115
    try:
        with open_library(args) as library:
            history, flt = _history(library, args, args.search)
            if args.format == "csv":
                for chunk in export_csv(history.iterate(flt)):
                    out.write(chunk)
            else:
                out.write("[\n")
                for i, o in enumerate(history.iterate(flt)):
                    item = {**export_row(o), "record": json.loads(o.record_json)}
                    out.write(
                        (",\n" if i else "") + json.dumps(item, ensure_ascii=False, sort_keys=True)
                    )
                out.write("\n]\n")
    finally:
        if args.out:
            out.close()
    if args.out:
        print(f"exported to {args.out}", file=sys.stderr)
    return 0


def _delete(args: argparse.Namespace) -> int:
    with open_library(args) as library:
        missing = [i for i in args.output_ids if library.runs.get_output(i) is None]
        if missing:
            raise BadInput("output_id", f"no output {missing[0]} in this library")
        removed = library.delete_outputs(args.output_ids)
    print(f"deleted {len(args.output_ids)} outputs ({removed} files from the store)")
    return 0


def _show(args: argparse.Namespace) -> int:
    with open_library(args) as library:
        output = library.runs.get_output(args.output_id)
    if output is None:
        raise BadInput("output_id", f"no output {args.output_id} in this library")
    row = summary(output)
    if args.json:
        print_json(
            {
                **row,
                "record": json.loads(output.record_json),
                "parents": list(output.parent_ids),
                "children": list(output.child_ids),
            }
        )
        return 0
    shown: dict[str, object] = dict(row)
    for key in ("output_id", "run_id", "path", "seed", "sha256", "task", "model", "prompt"):
        print(f"{key:10} {shown[key]}")
    print(f"{'parents':10} {list(output.parent_ids)}\n{'children':10} {list(output.child_ids)}")
    return 0


def _history(
    library: Library, args: argparse.Namespace, text: str | None
) -> tuple[History, HistoryFilter]:
    from core.library.history import HistoryFilter

    flt = HistoryFilter(
        text=text,
        model=args.model,
        task=args.task,
        project=args.project,
        since=_since(args.since),
    )
    return library.history, flt


def _since(text: str | None) -> datetime | None:
    if not text:
        return None
    from datetime import datetime, timezone

    try:
        when = datetime.fromisoformat(text)
    except ValueError as exc:
        raise BadInput("since", f"{text!r}: expected a date like 2026-11-22") from exc
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def summary(o: Output) -> OutputSummary:
    """What `history list` shows of an output: its ids, file, seed, and the request's gist."""
    from core.provenance import ProvenanceRecord

    request = ProvenanceRecord.request_fields(o.record_json)
    return {
        "output_id": o.id,
        "run_id": o.run_id,
        "path": o.path,
        "seed": o.seed,
        "sha256": o.pixel_sha256,
        "created_at": o.created_at.isoformat(),
        "project": o.project,
        "task": request.get("task"),
        "model": request.get("model"),
        "prompt": request.get("prompt", ""),
    }
