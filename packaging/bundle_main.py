"""The program of the PyInstaller bundle: `atelier`, the command line and the window.

The app starts helper processes as `sys.executable -m MODULE ...` (the window's worker, a
reproduction); in the bundle `sys.executable` is this program, so `-m MODULE` runs that module
of the bundle, as Python itself would.
"""

from __future__ import annotations

import multiprocessing
import runpy
import sys


def main() -> int:
    multiprocessing.freeze_support()
    if len(sys.argv) >= 3 and sys.argv[1] == "-m":
        module = sys.argv[2]
        sys.argv = [sys.argv[0], *sys.argv[3:]]
        runpy.run_module(module, run_name="__main__", alter_sys=True)
        return 0
    from desktop.entry import main as atelier

    return atelier()


if __name__ == "__main__":
    sys.exit(main())
