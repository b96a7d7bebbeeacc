"""The `atelier` console script: the core's command line, with the desktop window plugged in;
and `atelier-gui`, the windowed launcher a desktop entry starts (`atelier-gui [IMAGE]`)."""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    from core.cli.main import main as cli_main
    from desktop import launch

    return cli_main(argv, gui=launch)


def gui_main(argv: Sequence[str] | None = None) -> int:
    """`atelier gui` with the launcher's arguments: an image opened from a file manager loads
    its settings into the window."""
    args = list(sys.argv[1:] if argv is None else argv)
    return main(["gui", *args])


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
