"""`atelier`: the command line over the core. Heavy imports happen inside the commands.

Each command is a module with `add_parser(sub)` and `run(args) -> int`; `COMMANDS` lists them
in the order `--help` shows them. Exit codes: 0 success, 1 the work failed (the message says
why), 2 bad usage or bad input.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from core.cli import (
    cmd_batch,
    cmd_demo,
    cmd_desktop_entry,
    cmd_generate,
    cmd_grid,
    cmd_gui,
    cmd_history,
    cmd_import,
    cmd_models,
    cmd_queue,
    cmd_reproduce,
    cmd_train,
)
from core.cli.options import HOME_HELP, VERBOSE_HELP, Subparsers
from core.errors import AtelierError, BadInput
from core.version import VersionAction


class Command(Protocol):
    def add_parser(self, sub: Subparsers, /) -> None: ...
    def run(self, args: argparse.Namespace, /) -> int: ...


COMMANDS: list[Command] = [
    cmd_generate,
    cmd_models,
    cmd_history,
    cmd_demo,
    cmd_queue,
    cmd_batch,
    cmd_reproduce,
    cmd_import,
    cmd_grid,
    cmd_train,
    cmd_desktop_entry,
    cmd_gui,
]

GuiLauncher = Callable[[argparse.Namespace], int]


def build_parser(commands: Sequence[Command] = COMMANDS) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="atelier",
        description="Batch Stable Diffusion that keeps every image reproducible. "
        "With no command, opens the desktop window.",
    )
    parser.add_argument("--version", action=VersionAction)
    parser.add_argument("--home", type=Path, help=HOME_HELP)
    parser.add_argument("--verbose", action="store_true", help=VERBOSE_HELP)
    parser.set_defaults(func=cmd_gui.run, runs_engine=False)
    # --home and --verbose are also accepted after the command: `atelier generate --home DIR`
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--home", type=Path, default=argparse.SUPPRESS, help=HOME_HELP)
    common.add_argument("--verbose", action="store_true", default=argparse.SUPPRESS)
    sub = parser.add_subparsers(
        dest="command", metavar="COMMAND", parser_class=_parser_with(common)
    )
    for command in commands:
        command.add_parser(sub)
    return parser


def _parser_with(common: argparse.ArgumentParser) -> type[argparse.ArgumentParser]:
    class SubParser(argparse.ArgumentParser):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.setdefault("parents", [common])
            super().__init__(*args, **kwargs)

    return SubParser


def runs_engine(args: argparse.Namespace) -> bool:
    """Whether the command runs the model in this process (the window's worker is a process of
    its own, started with the same malloc tuning)."""
    answer: bool | Callable[[argparse.Namespace], bool] = getattr(args, "runs_engine", False)
    return bool(answer(args) if callable(answer) else answer)


def main(argv: Sequence[str] | None = None, gui: GuiLauncher | None = None) -> int:
    """Run `atelier`. `gui` opens the window (the desktop package passes it in: the core never
    imports the GUI)."""
    parser = build_parser()
    parser.set_defaults(launch_gui=gui)
    args = parser.parse_args(argv)
    if argv is None and runs_engine(args):  # a process of its own, not a call from a test
        from core.engine.malloc import restart_tuned

        restart_tuned()  # glibc reads its malloc tunables only as a process starts
    from core.engine.quiet import quiet_libraries

    quiet_libraries(verbose=args.verbose)
    handler: Callable[[argparse.Namespace], int] = args.func
    try:
        return handler(args)
    except BadInput as exc:
        print(f"atelier: error: {exc}", file=sys.stderr)
        return 2
    except AtelierError as exc:
        print(f"atelier: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("atelier: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
