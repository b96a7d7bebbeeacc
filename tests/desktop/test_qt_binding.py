"""The installed Qt binding keeps Python's reference counts: the window calls Qt methods,
emits signals and answers Qt's calls into Python thousands of times a session."""

from __future__ import annotations

import sys
from collections.abc import Callable

from PySide6.QtCore import QModelIndex, QObject, QPersistentModelIndex, QStringListModel, Qt, Signal
from PySide6.QtWidgets import QLabel, QListView, QWidget


def _counts() -> tuple[int, int, int]:
    return sys.getrefcount(None), sys.getrefcount(True), sys.getrefcount(False)


def _change(call: Callable[[], object], times: int) -> tuple[int, int, int]:
    before = _counts()
    for _ in range(times):
        call()
    after = _counts()
    return after[0] - before[0], after[1] - before[1], after[2] - before[2]


def _kept(change: tuple[int, int, int]) -> bool:
    """Unchanged, give or take what the interpreter itself does meanwhile (6.12.0: -1000s)."""
    return all(abs(d) < 20 for d in change)


class _Relay(QObject):
    flag = Signal(bool)


class _Names(QStringListModel):
    """Answers in Python, as the gallery's model does: None for the roles it does not know."""

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = 0) -> object:
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        return super().data(index, role)


def test_qt_calls_keep_the_references_of_none_and_the_booleans(qapp: object) -> None:
    """PySide6-Essentials 6.12.0 on Python 3.11 dropped a reference to None on every call of a
    method that returns nothing: a 20-step job in the window made about 120 of them, and after
    a few hundred jobs the interpreter freed None and aborted ("Fatal Python error:
    none_dealloc"). constraints.txt pins a release that does not; on 6.12.0 the first check
    reads (-3000, 0, 0)."""
    widget = QWidget()
    label = QLabel(widget)

    def void_calls() -> None:
        label.setText("step")
        widget.setObjectName("gallery")
        widget.update()

    assert _kept(_change(void_calls, 1000))

    relay = _Relay()
    relay.flag.connect(lambda value: None)
    assert _kept(_change(lambda: relay.flag.emit(True), 1000))

    view = QListView()  # Qt calls the model's data() for every row it paints
    model = _Names([f"#{i}" for i in range(40)])
    view.setModel(model)
    view.resize(200, 600)
    view.show()
    assert _kept(_change(view.viewport().repaint, 50))
