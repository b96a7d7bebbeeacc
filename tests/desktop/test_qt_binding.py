"""The installed Qt binding keeps Python's reference counts: the window calls Qt methods that
return nothing thousands of times a session."""

from __future__ import annotations

import sys

from PySide6.QtWidgets import QLabel, QWidget


def test_qt_calls_that_return_nothing_keep_nones_references(qapp: object) -> None:
    """PySide6-Essentials 6.12.0 on Python 3.11 dropped a reference to None on every such call:
    a 20-step job in the window made about 120 of them, and after a few hundred jobs the
    interpreter freed None and aborted ("Fatal Python error: none_dealloc"). constraints.txt
    pins a release that does not; this fails on 6.12.0 (None's count falls by 3000)."""
    widget = QWidget()
    label = QLabel(widget)
    before = sys.getrefcount(None)
    for i in range(1000):
        label.setText(f"step {i}")
        widget.setObjectName("gallery")
        widget.update()
    assert abs(sys.getrefcount(None) - before) < 50
