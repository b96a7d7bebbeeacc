"""`atelier gui` (and `atelier` with no command): the desktop window, when it is installed.

The core never imports the GUI: `main(gui=...)` hands the launcher in, and it reaches this
command as `args.launch_gui`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core.cli.options import Subparsers, set_handler


def add_parser(sub: Subparsers) -> None:
    gui = sub.add_parser("gui", help="open the desktop window")
    gui.add_argument("image", nargs="?", type=Path, help="an image whose settings to load")
    gui.add_argument(
        "--smoke-test",
        type=Path,
        metavar="PNG",
        help="open offscreen, queue a demo job, wait, screenshot the window to PNG, exit",
    )
    gui.add_argument(
        "--demo",
        action="store_true",
        help="also queue the demo grid (prompts x guidance on demo:sd) and show it when done",
    )
    set_handler(gui, run)


def run(args: argparse.Namespace) -> int:
    launch = getattr(args, "launch_gui", None)
    if launch is None:
        print("atelier: the desktop GUI is not installed here; see `atelier --help`",
              file=sys.stderr)  # fmt: skip
        return 1
    code: int = launch(args)
    return code
