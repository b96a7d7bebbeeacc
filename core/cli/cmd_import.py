"""`atelier import-png FILE... [--json] [--queue]`: the request recorded in images made by
Atelier, A1111 and its family, ComfyUI, InvokeAI, NovelAI, Fooocus or SwarmUI. Each file is
reported on its own: the format used, where each field came from, every unmapped setting, notes.
A bad file is named on stderr and the others still print. `--queue` queues only runnable
imports: one imported for reference (an architecture Atelier cannot run, a prompt that could
not be read) is refused on stderr. Exit 1 when any file failed or was refused, else 0.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from core.cli.options import Subparsers, add_json_option, open_library, set_handler
from core.errors import AtelierError

if TYPE_CHECKING:
    from core.formats.importer import ImportedRequest
    from core.library import Library
    from core.request import GenerationRequest


def add_parser(sub: Subparsers) -> None:
    """Add `import-png` to the subcommands `sub` (the result of `add_subparsers`)."""
    p = sub.add_parser(
        "import-png",
        help="read the generation settings of PNG, JPEG or WebP files as requests",
        description="Read the request recorded in images made by Atelier, AUTOMATIC1111 and "
        "its family, ComfyUI, InvokeAI, NovelAI, Fooocus or SwarmUI. Settings with no "
        "equivalent are listed as unmapped; an image made by an architecture Atelier cannot "
        "run is imported for reference and never queued.",
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="PNG, JPEG or WebP image")
    add_json_option(p, help="print a JSON list of the imports")
    p.add_argument("--queue", action="store_true", help="also queue each runnable imported request")
    p.add_argument("--project", default="default", help="project of the queued jobs")
    set_handler(p, run)


def run(args: argparse.Namespace) -> int:
    from core.formats.importer import import_image

    imported: list[ImportedRequest] = []
    failed = 0
    with open_library(args) as library:
        for path in args.files:
            try:
                result = import_image(path, library)
            except AtelierError as exc:
                failed += 1
                print(f"atelier: error: {exc}", file=sys.stderr, flush=True)
                continue
            if args.queue and not result.runnable:
                failed += 1
                message = f"atelier: error: {path}: not queued: {result.not_runnable_reason}"
                print(message, file=sys.stderr, flush=True)
            elif args.queue:
                try:
                    job_id = _queue(library, result.request, args.project)
                except AtelierError as exc:
                    failed += 1
                    message = f"atelier: error: {path}: cannot queue: {exc}"
                    print(message, file=sys.stderr, flush=True)
                    continue
                result.notes.append(f"queued as job {job_id}")
            imported.append(result)
            if not args.json:
                _print_text(result)
    if args.json:
        data = [result.to_dict() for result in imported]
        print(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False))
    return 1 if failed else 0


def _queue(library: Library, request: GenerationRequest, project: str) -> int:
    """Queue an imported request (a fixed seed, so the job always makes the same image)."""
    [job] = library.queue.submit(request, project=project)
    return job.id


def _print_text(result: ImportedRequest) -> None:
    print(f"{result.source_path}: {result.format}")
    if len(result.formats_found) > 1:
        print(f"  formats found: {', '.join(result.formats_found)}")
    if not result.runnable:
        print(f"  {result.not_runnable_reason}")
    print(f"  request: {result.request.canonical_json()}")
    if result.field_sources:
        print("  fields from:")
        for name, where in sorted(result.field_sources.items()):
            print(f"    {name}: {where}")
    for title, entries in (("unmapped", result.unmapped), ("notes", result.notes)):
        if entries:
            print(f"  {title}:")
            for entry in entries:
                print(f"    - {entry}")
    sys.stdout.flush()
