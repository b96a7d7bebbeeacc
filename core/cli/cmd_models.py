"""`atelier models ...`: the model variants of the library, and the built-in demo models."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

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
    from core.library.entities import ModelVariant
    from core.models.demo import BuiltinModel


def add_parser(sub: Subparsers) -> None:
    models = sub.add_parser("models", help="model variants in the library")
    set_handler(models, run)
    msub = models.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    add = msub.add_parser("add", help="add a folder, a .safetensors file or a hub id")
    add.add_argument("source", help="folder, file, hub id (org/name[@revision]) or demo:NAME")
    add.add_argument("--name", required=True, help="the name to use it by")
    add.add_argument("--config", help="local diffusers folder with the configs a single file needs")
    add.add_argument("--revision", help="hub revision (branch, tag or commit)")
    add.add_argument(
        "--allow-pickle",
        action="store_true",
        help="allow this .ckpt/.pt file (pickled weights can run code: only for files you trust)",
    )
    set_action(add, _add)
    lst = msub.add_parser("list", help="the library's model variants, then the built-in ones")
    add_json_option(lst)
    set_action(lst, _list)
    ver = msub.add_parser("verify", help="hash the weights again and compare with the record")
    ver.add_argument("name")
    set_action(ver, _verify)
    rem = msub.add_parser("remove", help="forget a model variant (its files stay)")
    rem.add_argument("name")
    set_action(rem, _remove)
    from core.cli import models_download

    models_download.add_parser(msub)


def run(args: argparse.Namespace) -> int:
    return run_action(args)


def _add(args: argparse.Namespace) -> int:
    from core.models.variants import add_variant

    with open_library(args) as library:
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


def _list(args: argparse.Namespace) -> int:
    """The library's variants, then the built-in demo models (which need no `models add`)."""
    from core.models.demo import builtin_models, demo_dir

    with open_library(args) as library:
        variants = library.models.list()
        bases = library.training_runs.bases()  # trained variants: the model they came from
        runs = library.training_runs.ids()  # ... and the run that made them
        if not any(demo_dir().glob("*/atelier.json")):
            print("building the built-in demo models (once)...", file=sys.stderr, flush=True)
        builtins = builtin_models(library.file_hashes)
    if args.json:
        listed = [
            {**_variant_dict(v), "base": bases.get(v.name), "training_run": runs.get(v.name)}
            for v in variants
        ]
        print_json(listed + [_builtin_dict(b) for b in builtins])
        return 0
    for v in variants:
        fp = (v.fingerprint or "")[:12]
        base = (
            f" (trained from {bases[v.name]}, training run {runs[v.name]})"
            if v.name in bases
            else ""
        )
        print(f"{v.name:24} {v.kind:13} {fp:12}  {v.source_type}: {v.location}{base}")
    for b in builtins:
        print(f"{b.name:24} {b.kind:13} {b.fingerprint[:12]:12}  built-in")
    return 0


def _verify(args: argparse.Namespace) -> int:
    from core.models.variants import verify_variant

    name: str = args.name
    with open_library(args) as library:
        result = verify_variant(library, name)
    if result.ok:
        print(f"{name}: ok, weights match fingerprint {result.fingerprint[:12]}")
        return 0
    what = ", ".join(result.changed_components) or "the weights file"
    recorded = str(result.recorded)[:12]
    print(f"{name}: CHANGED, fingerprint {result.fingerprint[:12]} (recorded {recorded})")
    print(f"changed components: {what}")
    return 1


def _remove(args: argparse.Namespace) -> int:
    with open_library(args) as library:
        removed = library.models.remove(args.name)
    if not removed:
        raise BadInput("name", f"no model variant named {args.name!r}")
    print(f"removed {args.name} (its files were not touched)")
    return 0


def _variant_dict(v: ModelVariant) -> dict[str, object]:
    return {
        "name": v.name,
        "kind": v.kind,
        "builtin": False,
        "source_type": v.source_type,
        "location": v.location,
        "revision": v.revision,
        "config_path": v.config_path,
        "fingerprint": v.fingerprint,
        "components": v.components,
        "size_bytes": v.size_bytes,
    }


def _builtin_dict(b: BuiltinModel) -> dict[str, object]:
    return {
        "name": b.name,
        "kind": b.kind,
        "builtin": True,
        "source_type": "demo",
        "location": str(b.path),
        "revision": None,
        "config_path": None,
        "fingerprint": b.fingerprint,
        "components": b.components,
        "size_bytes": b.size_bytes,
    }
