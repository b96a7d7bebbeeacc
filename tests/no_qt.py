"""Make PySide6 and shiboken6 unimportable in this process: the core must run without Qt.

`block_qt()` is called by the fast test tier (`ATELIER_BLOCK_QT=1`, see tests/conftest.py) and
by the test that imports every core module in a process of its own."""

from __future__ import annotations

import importlib.abc
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType

BLOCKED = ("PySide6", "shiboken6")


class ModuleBlocker(importlib.abc.MetaPathFinder):
    """Makes the packages `names` (and their modules) unimportable, saying `why`."""

    def __init__(self, names: tuple[str, ...] = BLOCKED, why: str = "the core must run without Qt"):
        self.names, self.why = names, why

    def find_spec(
        self, name: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if name.partition(".")[0] in self.names:
            raise ModuleNotFoundError(f"{name}: blocked, {self.why}", name=name)
        return None


def block_qt() -> None:
    loaded = [name for name in sys.modules if name.partition(".")[0] in BLOCKED]
    if loaded:
        raise RuntimeError(f"Qt is loaded already ({', '.join(loaded)}): block it earlier")
    sys.meta_path.insert(0, ModuleBlocker())
