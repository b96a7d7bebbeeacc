"""Slow work off the GUI thread: a QThreadPool task whose result comes back in the GUI thread.

A signal emitted in a pool thread reaches a Python callable in the GUI thread only through a
slot of a QObject that lives there; `_Relay` is that QObject, made in the GUI thread.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

from core.errors import AtelierError


class _Relay(QObject):
    finished = Signal(object)
    failed = Signal(str)

    def __init__(
        self, on_done: Callable[[Any], None], on_error: Callable[[str], None] | None
    ) -> None:
        super().__init__()
        self._on_done, self._on_error = on_done, on_error
        self.finished.connect(self._deliver)
        self.failed.connect(self._fail)

    @Slot(object)
    def _deliver(self, result: Any) -> None:
        _LIVE.discard(self)
        self._on_done(result)

    @Slot(str)
    def _fail(self, message: str) -> None:
        _LIVE.discard(self)
        if self._on_error is not None:
            self._on_error(message)


_LIVE: set[_Relay] = set()  # relays waiting for their task (kept alive until it reports)


class _Task(QRunnable):
    def __init__(self, fn: Callable[[], Any], relay: _Relay) -> None:
        super().__init__()
        self._fn, self._relay = fn, relay

    def run(self) -> None:
        try:
            result = self._fn()
        except Exception as exc:  # reported as a message, never a dead window
            if not isinstance(exc, OSError | AtelierError):  # a message, not a bug: no traceback
                traceback.print_exc()
            self._relay.failed.emit(str(exc) or repr(exc))
        else:
            self._relay.finished.emit(result)


def run_in_background(
    fn: Callable[[], Any],
    on_done: Callable[[Any], None],
    on_error: Callable[[str], None] | None = None,
    pool: QThreadPool | None = None,
) -> None:
    """Call `fn()` in a pool thread; then `on_done(result)` or `on_error(message)` in this one."""
    relay = _Relay(on_done, on_error)
    _LIVE.add(relay)
    (pool or QThreadPool.globalInstance()).start(_Task(fn, relay))
