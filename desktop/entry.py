"""The `atelier` console script: the core's command line, with the desktop window plugged in."""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    if argv is None and runs_engine(sys.argv[1:]):
        from core.engine.malloc import restart_tuned

        restart_tuned()  # glibc reads its malloc tunables only as a process starts
    from core.cli.main import main as cli_main
    from desktop import launch

    return cli_main(argv, gui=launch)


COMMANDS = frozenset(
    {
        "generate",
        "models",
        "history",
        "demo",
        "reproduce",
        "queue",
        "batch",
        "grid",
        "import-png",
        "gui",
    }
)


def runs_engine(args: Sequence[str]) -> bool:
    """Whether the command line runs the engine in this process (the window's worker is a
    process of its own, started with the same tuning). The first command word decides; a
    wrong guess costs one restart of a few tens of milliseconds, or an untuned engine."""
    for i, word in enumerate(args):
        if word in COMMANDS:
            if word == "queue":
                return args[i + 1 : i + 2] == ["run"]
            if word == "batch":
                return "--run" in args[i + 1 :]
            return word in ("generate", "grid", "reproduce", "demo")
    return False


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
