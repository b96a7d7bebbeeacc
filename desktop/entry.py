"""The `atelier` console script: the core's command line, with the desktop window plugged in."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any


def main(argv: Sequence[str] | None = None) -> int:
    from core.cli.main import main as cli_main
    from desktop import launch

    def gui(args: Any) -> int:
        return launch(args)

    return cli_main(argv, gui=gui)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
