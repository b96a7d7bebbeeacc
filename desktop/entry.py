"""The `atelier` console script: the core's command line, with the desktop window plugged in."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any


def main(argv: Sequence[str] | None = None) -> int:
    from core.cli.main import main as cli_main
    from desktop import launch

    opened: list[bool] = []

    def gui(args: Any) -> int:
        opened.append(True)
        return launch(args)

    code = cli_main(argv, gui=gui)
    if opened:
        leave_now(code)
    return code


def leave_now(code: int) -> None:
    """End the process without the interpreter's teardown, once the window has closed.

    By then the window has saved its settings, stopped its worker process and closed the
    library. With a few dozen images in the gallery, the teardown of PySide6 6.12's objects
    released `False` more often than it was held ("Fatal Python error: bool_dealloc", exit
    134) after everything had been saved; skipping the teardown is the usual workaround for
    PySide shutdown crashes.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
