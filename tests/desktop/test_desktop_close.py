"""Closing the window while a job runs never waits on the worker's step."""

from __future__ import annotations

import time

from desktop_helpers import fill_demo

from desktop.main_window import MainWindow


def test_close_during_a_job_returns_at_once(running_window: MainWindow, qtbot) -> None:
    window = running_window
    fill_demo(window, steps=400)
    with qtbot.waitSignal(window.session.bridge.step, timeout=60_000):
        window.generate.queue_jobs(1)
    started = time.perf_counter()
    window.close()
    took = time.perf_counter() - started
    assert took < 0.5, f"closing took {took:.2f} s"
    assert not window.isVisible()
    worker = window.session._worker
    assert worker is not None and worker.stopping  # told to stop; the fixture waits for it
