"""The queue panel: cancel, reorder, pause, and failed jobs with their message."""

from __future__ import annotations

from desktop_helpers import fill_demo
from PySide6.QtCore import Qt

from desktop.main_window import MainWindow


def _queue_three(window: MainWindow) -> list[int]:
    fill_demo(window)
    return [job.id for job in window.generate.queue_jobs(3)]


def test_reorder_changes_the_order_in_the_database(window: MainWindow, qtbot) -> None:
    ids = _queue_three(window)
    panel = window.queue
    panel.refresh()
    assert panel.job_ids() == ids
    panel.select_job(ids[2])
    qtbot.mouseClick(_button(panel, "Up"), Qt.MouseButton.LeftButton)
    qtbot.mouseClick(_button(panel, "Up"), Qt.MouseButton.LeftButton)
    queued = [j.id for j in window.session.jobs.list(("queued",))]
    assert queued == [ids[2], ids[0], ids[1]]
    assert panel.job_ids() == queued and panel.selected_job_id() == ids[2]
    qtbot.mouseClick(_button(panel, "Down"), Qt.MouseButton.LeftButton)
    assert [j.id for j in window.session.jobs.list(("queued",))] == [ids[0], ids[2], ids[1]]


def test_cancel_a_queued_job_and_retry_it(window: MainWindow, qtbot) -> None:
    ids = _queue_three(window)
    window.queue.refresh()
    window.queue.select_job(ids[1])
    qtbot.mouseClick(_button(window.queue, "Cancel"), Qt.MouseButton.LeftButton)
    assert window.session.jobs.get(ids[1]).status == "cancelled"
    assert window.queue.model.text(1, 1) == "cancelled"
    qtbot.mouseClick(_button(window.queue, "Retry"), Qt.MouseButton.LeftButton)
    assert window.session.jobs.get(ids[1]).status == "queued"
    # cancelling a finished job is refused with a message, not an error
    window.queue.select_job(ids[1])
    window.session.jobs.cancel(ids[1])
    window.queue.cancel_selected()
    assert "only queued, paused or running" in window.statusBar().currentMessage()


def test_cancel_the_running_job_and_see_a_failure(running_window: MainWindow, qtbot) -> None:
    window = running_window
    bridge = window.session.bridge
    fill_demo(window, steps=400)
    with qtbot.waitSignal(bridge.step, timeout=60_000):
        (job,) = window.generate.queue_jobs(1)
    assert window.queue.running_job == job.id
    assert window.queue.preview.pixmap() is not None
    window.queue.select_job(job.id)
    with qtbot.waitSignal(bridge.jobCancelled, timeout=30_000):
        qtbot.mouseClick(_button(window.queue, "Cancel"), Qt.MouseButton.LeftButton)
    assert window.session.jobs.get(job.id).status == "cancelled"

    # a job that fails shows its message in the queue; the window goes on
    window.generate.model.setCurrentText("demo:no-such-model")
    window.generate.steps.setValue(2)
    with qtbot.waitSignal(bridge.jobFailed, timeout=30_000):
        (bad,) = window.generate.queue_jobs(1)
    window.queue.refresh()
    row = window.queue.model.row_of(bad.id)
    assert window.queue.model.text(row, 1) == "FAILED"
    assert "no-such-model" in window.queue.model.text(row, 4)  # the message in the prompt's place


def test_pause_and_resume(window: MainWindow, qtbot) -> None:
    qtbot.mouseClick(window.queue.pause_button, Qt.MouseButton.LeftButton)
    assert window.session.jobs.is_paused()
    assert window.queue.pause_button.text() == "Resume queue"
    qtbot.mouseClick(window.queue.pause_button, Qt.MouseButton.LeftButton)
    assert not window.session.jobs.is_paused()


def _button(widget, text: str):
    from PySide6.QtWidgets import QPushButton

    return next(b for b in widget.findChildren(QPushButton) if b.text() == text)


def _drop(panel, job_id: int, before_row: int) -> None:
    """Drop the job's row before `before_row`, as Qt delivers the end of an internal drag."""
    from PySide6.QtCore import QPointF
    from PySide6.QtGui import QDropEvent

    tree, model = panel.list, panel.model
    panel.select_job(job_id)
    mime = model.mimeData([tree.currentIndex()])
    if before_row < model.rowCount():
        rect = tree.visualRect(model.index(before_row, 0))
        pos = QPointF(rect.center().x(), rect.top() + 1)
    else:
        last = tree.visualRect(model.index(model.rowCount() - 1, 0))
        pos = QPointF(last.center().x(), last.bottom() + 20)
    event = QDropEvent(
        pos, Qt.DropAction.MoveAction, mime, Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )  # fmt: skip
    tree.dropEvent(event)


def test_drag_to_reorder_moves_the_job_in_the_database(window: MainWindow, qtbot) -> None:
    fill_demo(window)
    ids = [job.id for job in window.generate.queue_jobs(4)]
    panel = window.queue
    panel.refresh()
    panel.list.resize(600, 400)
    _drop(panel, ids[3], 0)  # the last job to the top
    expected = [ids[3], ids[0], ids[1], ids[2]]
    assert [j.id for j in window.session.jobs.list(("queued",))] == expected
    assert panel.job_ids() == expected and panel.selected_job_id() == ids[3]
    _drop(panel, ids[0], 4)  # the (now second) first job to the end
    expected = [ids[3], ids[1], ids[2], ids[0]]
    assert [j.id for j in window.session.jobs.list(("queued",))] == expected
    _drop(panel, ids[2], 1)
    assert [j.id for j in window.session.jobs.list(("queued",))] == [ids[3], ids[2], ids[1], ids[0]]
    # a finished job does not move; the list stays as the database has it
    window.session.jobs.cancel(ids[1])
    panel.refresh()
    _drop(panel, ids[1], 0)
    assert "only queued jobs move" in window.statusBar().currentMessage()
    assert panel.job_ids() == [j.id for j in window.session.jobs.list()]


def test_a_killed_worker_process_is_reported_and_its_job_still_finishes(
    running_window: MainWindow, qtbot
) -> None:
    import os
    import signal

    window = running_window
    bridge = window.session.bridge
    fill_demo(window, steps=150)
    with qtbot.waitSignal(bridge.step, timeout=60_000):
        (job,) = window.generate.queue_jobs(1)
    pid = window.session._worker.pid  # type: ignore[union-attr]
    with qtbot.waitSignal(bridge.workerExited, timeout=30_000) as exited:
        os.kill(pid, signal.SIGKILL)
    assert exited.args == [-signal.SIGKILL, True]
    assert "Worker stopped" in window.statusBar().currentMessage()
    with qtbot.waitSignal(bridge.jobDone, timeout=120_000) as done:
        pass
    assert done.args[0].id == job.id and done.args[0].attempts == 2
    assert window.session._worker.pid != pid  # type: ignore[union-attr]
