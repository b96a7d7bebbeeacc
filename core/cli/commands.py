"""The handlers of `atelier`'s subcommands. Each opens the library, does one thing, prints."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from core.cli.main import home_dir, request_from_args
from core.cli.progress import ProgressBar
from core.errors import AtelierError, BadInput


@contextmanager
def _library(args: argparse.Namespace) -> Iterator[Any]:
    from core.library import Library

    library = Library.open(home_dir(args))
    try:
        yield library
    finally:
        library.close()


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False))


def dispatch(args: argparse.Namespace) -> int:
    handlers: dict[str, Callable[[argparse.Namespace], int]] = {
        "generate": cmd_generate,
        "models": cmd_models,
        "history": cmd_history,
        "demo": cmd_demo,
    }
    if args.command in ("queue", "batch"):
        from core.cli import cmd_queue

        return cmd_queue.dispatch(args)
    if args.command == "import-png":
        from core.cli import cmd_import

        return cmd_import.run(args)
    if args.command == "grid":
        from core.cli import cmd_grid

        return cmd_grid.run(args)
    if args.command == "reproduce":
        from core.cli import cmd_reproduce

        return cmd_reproduce.run(args)
    if args.command == "train":
        from core.cli import cmd_train

        return cmd_train.run(args)
    return handlers[args.command](args)


# ---- generate ------------------------------------------------------------------------------
def cmd_generate(args: argparse.Namespace) -> int:
    from core.generation import Generator

    request = request_from_args(args)
    request.validate()
    with _library(args) as library:
        generator = Generator(library)
        outputs = generator.generate(
            request,
            project=args.project,
            out_dir=args.out,
            on_step=ProgressBar(f"{request.task} {request.model}"),
        )
    if args.json:
        _print_json([o.to_dict() for o in outputs])
    else:
        for o in outputs:
            print(f"output {o.output_id} (seed {o.seed}): {o.path}")
    return 0


# ---- models --------------------------------------------------------------------------------
def cmd_models(args: argparse.Namespace) -> int:
    with _library(args) as library:
        action = args.models_command
        if action == "add":
            return _models_add(library, args)
        if action == "list":
            variants = library.models.list()
            bases = library.training_runs.bases()  # trained variants: the model they came from
            if args.json:
                _print_json([{**_variant_dict(v), "base": bases.get(v.name)} for v in variants])
            else:
                for v in variants:
                    fp = (v.fingerprint or "")[:12]
                    print(f"{v.name:24} {v.kind:13} {fp:12}  {v.source_type}: {v.location}")
            return 0
        if action == "verify":
            return _models_verify(library, args.name)
        if action == "remove":
            if not library.models.remove(args.name):
                raise BadInput("name", f"no model variant named {args.name!r}")
            print(f"removed {args.name} (its files were not touched)")
            return 0
    raise BadInput("models", f"unknown action {action!r}")  # pragma: no cover


def _models_add(library: Any, args: argparse.Namespace) -> int:
    from core.models.variants import add_variant

    variant = add_variant(
        library,
        args.source,
        args.name,
        config=args.config,
        revision=args.revision,
        allow_pickle=args.allow_pickle,
    )
    print(
        f"added {variant.name}: {variant.kind}, fingerprint {str(variant.fingerprint)[:12]}, "
        f"{variant.size_bytes / 1e6:.1f} MB"
    )
    return 0


def _models_verify(library: Any, name: str) -> int:
    from core.models.variants import verify_variant

    result = verify_variant(library, name)
    if result.ok:
        print(f"{name}: ok, weights match fingerprint {result.fingerprint[:12]}")
        return 0
    what = ", ".join(result.changed_components) or "the weights file"
    recorded = str(result.recorded)[:12]
    print(f"{name}: CHANGED, fingerprint {result.fingerprint[:12]} (recorded {recorded})")
    print(f"changed components: {what}")
    return 1


def _variant_dict(v: Any) -> dict[str, Any]:
    return {
        "name": v.name,
        "kind": v.kind,
        "source_type": v.source_type,
        "location": v.location,
        "revision": v.revision,
        "config_path": v.config_path,
        "fingerprint": v.fingerprint,
        "components": v.components,
        "size_bytes": v.size_bytes,
    }


# ---- history -------------------------------------------------------------------------------
def cmd_history(args: argparse.Namespace) -> int:
    with _library(args) as library:
        if args.history_command == "list":
            outputs = library.runs.list_outputs(
                offset=args.offset, limit=args.limit, project=args.project
            )
            rows = [_output_summary(o) for o in outputs]
            if args.json:
                _print_json(rows)
            else:
                for r in rows:
                    print(
                        f"{r['output_id']:6}  {r['created_at'][:19]}  {r['task']:8} "
                        f"{r['model']:18} seed {r['seed']:<10}  {r['prompt'][:40]!r}"
                    )
            return 0
        if args.history_command in ("search", "export"):
            return _history_query(library, args)
        if args.history_command == "delete":
            missing = [i for i in args.output_ids if library.runs.get_output(i) is None]
            if missing:
                raise BadInput("output_id", f"no output {missing[0]} in this library")
            removed = library.delete_outputs(args.output_ids)
            print(f"deleted {len(args.output_ids)} outputs ({removed} files from the store)")
            return 0
        output = library.runs.get_output(args.output_id)
        if output is None:
            raise BadInput("output_id", f"no output {args.output_id} in this library")
        detail = _output_summary(output)
        detail["record"] = json.loads(output.record_json)
        detail["parents"] = list(output.parent_ids)
        detail["children"] = list(output.child_ids)
        if args.json:
            _print_json(detail)
        else:
            for key in ("output_id", "run_id", "path", "seed", "sha256", "task", "model", "prompt"):
                print(f"{key:10} {detail[key]}")
            print(f"{'parents':10} {detail['parents']}\n{'children':10} {detail['children']}")
        return 0


def _history_query(library: Any, args: argparse.Namespace) -> int:
    from core.library.history import History, HistoryFilter, export_csv, export_row

    history = History(library.db.session_factory)
    flt = HistoryFilter(
        text=getattr(args, "text", None) or getattr(args, "search", None),
        model=args.model,
        task=args.task,
        project=args.project,
        since=_since(args.since),
    )
    if args.history_command == "search":
        rows = [_output_summary(o) for o in history.search(flt, args.offset, args.limit)]
        if args.json:
            _print_json(rows)
        else:
            total = history.count(flt)
            for r in rows:
                when, prompt = r["created_at"][:19], r["prompt"][:60]
                print(f"{r['output_id']:6}  {when}  {r['task']:8} {prompt!r}")
            print(f"{len(rows)} of {total} matching outputs", file=sys.stderr)
        return 0
    out = open(args.out, "w", encoding="utf-8", newline="") if args.out else sys.stdout  # noqa: SIM115
    try:
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


def _since(text: str | None) -> Any:
    if not text:
        return None
    from datetime import datetime, timezone

    try:
        when = datetime.fromisoformat(text)
    except ValueError as exc:
        raise BadInput("since", f"{text!r}: expected a date like 2026-11-22") from exc
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def _output_summary(o: Any) -> dict[str, Any]:
    record = json.loads(o.record_json)
    request = record.get("request", {})
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


# ---- demo ----------------------------------------------------------------------------------
def cmd_demo(args: argparse.Namespace) -> int:
    from core.demo_batch import run_demo

    out: Path = args.out.resolve()
    with _library(args) as library:
        result = run_demo(
            library,
            out,
            on_progress=lambda text: print(text, file=sys.stderr),
            progress_for=ProgressBar,
        )
    made = result.made
    if args.json:
        _print_json(
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
