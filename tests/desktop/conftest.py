"""Desktop test fixtures: offscreen Qt, a temporary library and settings file per test, and a
check that no test leaves a worker or pool thread running."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QThreadPool

from desktop.app import create_window
from desktop.main_window import MainWindow
from desktop.settings import open_settings

LEFTOVER_PREFIXES = ("atelier-worker", "heartbeat-")


@pytest.fixture(autouse=True)
def settings_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "settings.ini"
    monkeypatch.setenv("ATELIER_SETTINGS", str(path))
    return path


@pytest.fixture(autouse=True)
def no_threads_left(qapp: object) -> Iterator[None]:
    yield
    pool_idle = QThreadPool.globalInstance().waitForDone(30_000)
    leftovers = [t.name for t in threading.enumerate() if t.name.startswith(LEFTOVER_PREFIXES)]
    assert pool_idle, "a pool task was still running after the test"
    assert not leftovers, f"threads left running: {leftovers}"


@pytest.fixture
def make_window(qtbot: object, tmp_path: Path) -> Iterator[Callable[..., MainWindow]]:
    """Build windows on the test's library home; each is closed and its worker stopped."""
    windows: list[MainWindow] = []

    def make(start_worker: bool = False) -> MainWindow:
        window = create_window(tmp_path / "home", open_settings(), modal_errors=False)
        qtbot.addWidget(window)  # type: ignore[attr-defined]
        window.show()
        if start_worker:
            # A ten-minute poll: every job a test queues through the window must start on the
            # window's wake-up line (Session.wake_worker), or the test times out.
            window.session.start_worker(poll_s=600)
        windows.append(window)
        return window

    yield make
    for window in windows:
        window.close()
        window.history.thumbnails.wait(10_000)
        window.session.close()


@pytest.fixture
def window(make_window: Callable[..., MainWindow]) -> MainWindow:
    return make_window()


@pytest.fixture
def running_window(make_window: Callable[..., MainWindow]) -> MainWindow:
    return make_window(start_worker=True)
