"""The `atelier` console script: the core's command line, with the desktop window plugged in."""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    from core.cli.main import main as cli_main
    from desktop import launch

    return cli_main(argv, gui=launch)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
