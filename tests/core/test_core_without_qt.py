"""The core needs no Qt: every module of `core` imports in a process where PySide6 cannot."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]

IMPORT_ALL = """
import importlib, pkgutil, sys
sys.path.insert(0, {tests!r})
from no_qt import block_qt
block_qt()
try:
    import PySide6.QtCore
except ImportError:
    pass
else:
    raise SystemExit("the blocker let PySide6 in")
import core
names = [m.name for m in pkgutil.walk_packages(core.__path__, "core.")
         if ".migrations" not in m.name]
for name in names:
    importlib.import_module(name)
qt = sorted(n for n in sys.modules if n.split(".")[0] in ("PySide6", "shiboken6"))
assert not qt, qt
print(len(names))
"""


def test_every_core_module_imports_with_qt_blocked() -> None:
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_ALL.format(tests=str(TESTS))],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) > 50  # every module, not an empty walk
