"""`atelier models download` (an action of `cmd_models`): a diffusers model from the Hugging
Face hub (only what the pipeline needs, into the standard hub cache), or one `.safetensors`
file by URL; then it is added to the library as a model variant, fingerprinted. Ctrl+C stops
it; the same command again continues where it stopped."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any, TextIO

from core.cli.options import Subparsers, set_action
from core.errors import BadInput


def add_parser(sub: Subparsers) -> None:
    """`download` under `models` (`sub` is the models group's actions)."""
    p = sub.add_parser(
        "download",
        help="download a model from the Hugging Face hub (or a .safetensors URL) and add it",
    )
    p.add_argument("source", metavar="REPO_ID|URL", help="org/name on the hub, or an https URL")
    p.add_argument("--revision", help="branch, tag or commit (default: main)")
    p.add_argument("--variant", help="weights variant, e.g. fp16 (*.fp16.safetensors)")
    p.add_argument("--name", help="the name to use it by (default: the repository's name)")
    p.add_argument(
        "--allow-pickle",
        action="store_true",
        help="also fetch .bin weights for a component that has no .safetensors",
    )
    p.add_argument("--sha256", help="a URL's expected sha256 (checked after the download)")
    p.add_argument("--config", help="a URL's file: local diffusers folder with its configs")
    set_action(p, run)


def run(args: argparse.Namespace) -> int:
    from core.cli.options import home_dir
    from core.library import Library
    from core.models.http_transfer import size_text
    from core.models.hub_download import download, download_file, plan_download
    from core.models.variants import add_variant

    source: str = args.source
    is_url = "://" in source
    if not is_url and (args.sha256 or args.config):
        raise BadInput("--sha256/--config", "only go with a URL download")
    if is_url and (args.revision or args.variant):
        raise BadInput("--revision/--variant", "only go with a hub repository id")
    default = source.rstrip("/").rsplit("/", 1)[-1].removesuffix(".safetensors")
    name = args.name or default
    bar = DownloadBar(source)
    library = Library.open(home_dir(args))
    try:
        if library.models.get(name) is not None:  # before the bytes, not after
            raise BadInput("--name", f"a model variant named {name!r} already exists")
        try:
            if is_url:
                path = download_file(
                    source, library.home / "models", sha256=args.sha256, on_progress=bar
                )
                bar.finish()
                print(f"downloaded {path}")
                variant = add_variant(library, str(path), name, config=args.config)
            else:
                plan = plan_download(
                    source, args.revision, variant=args.variant, allow_pickle=args.allow_pickle
                )
                print(
                    f"{source} at {plan.commit[:12]}: {len(plan.files)} files, "
                    f"{size_text(plan.total_bytes)} ({len(plan.skipped)} files not needed are left)"
                )
                folder = download(plan, on_progress=bar)
                bar.finish()
                print(f"downloaded into {folder}")
                variant = add_variant(library, source, name, revision=args.revision)
        except KeyboardInterrupt:
            bar.finish()
            print(
                "atelier: download interrupted; what arrived is kept: run the same command "
                "again to continue",
                file=sys.stderr,
            )
            return 130
    finally:
        library.close()
    print(
        f"added {variant.name}: {variant.kind}, fingerprint {str(variant.fingerprint)[:12]}, "
        f"{variant.size_bytes / 1e6:.1f} MB"
    )
    return 0


class DownloadBar:
    """One line on stderr: bytes, speed and time left (a line every few seconds in logs)."""

    def __init__(self, label: str, stream: TextIO | None = None) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self._last = 0.0
        self._shown = False

    def __call__(self, event: Any) -> None:
        now = time.monotonic()
        complete = event.total_bytes and event.done_bytes >= event.total_bytes
        if not complete and now - self._last < (0.25 if self.tty else 3.0):
            return
        self._last = now
        self.stream.write(("\r" if self.tty else "") + event.describe())
        self.stream.write("\033[K" if self.tty else "\n")
        self.stream.flush()
        self._shown = True

    def finish(self) -> None:
        if self._shown and self.tty:
            self.stream.write("\n")
            self.stream.flush()
        self._shown = False
