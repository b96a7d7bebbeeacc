"""The desktop GUI (PySide6). The window itself is being built (see the issue tracker)."""

from __future__ import annotations

import sys
from typing import Any


def launch(args: Any) -> int:
    """`atelier` with no command, or `atelier gui`: the desktop window."""
    print(
        "atelier: the desktop window is not built yet; everything works from the command line.\n"
        "Try `atelier demo` for demo images, or `atelier --help` for the commands.",
        file=sys.stderr,
    )
    return 1
