"""The queue panel's model: 10,000 jobs shown, one job's event changes one row, the running
job pinned first with its progress, elapsed time and ETA, failed jobs flagged, the preview
cleared when a job ends."""

from __future__ import annotations

import time

from PySide6.QtCore import QPersistentModelIndex, Qt
from PySide6.QtGui import QColor, QImage

from core.queue.jobs import NewJob
from core.request import GenerationRequest
from desktop.item_models.queue import FAILED
from desktop.main_window import MainWindow


def _add(window: MainWindow, count: int) -> list[int]:
    request = GenerationRequest(task="text2img", model="demo:sd", prompt="a  blue\ncircle", steps=2)
    jobs = window.session.jobs.add_many([NewJob(request) for _ in range(count)])
    return [job.id for job in jobs]


def test_ten_thousand_jobs_and_one_changed_row(window: MainWindow, qtbot) -> None:
    ids = _add(window, 10_000)
    panel, model = window.queue, window.queue.model
    started = time.perf_counter()
    panel.refresh()
    took = time.perf_counter() - started
    assert model.rowCount() == 10_000 and model.job_ids()[:3] == ids[:3]
    assert took < 10, f"reading 10,000 jobs took {took:.1f} s"
    print(f"reconciling 10,000 jobs: {took:.2f} s")
    assert model.text(0, 4) == "a blue circle"  # readable: whitespace folded, not cut short
    view = panel.list
    view.resize(900, 400)
    started = time.perf_counter()
    view.scrollToBottom()
    view.viewport().grab()  # paints the rows now shown
    assert time.perf_counter() - started < 1.0
    assert view.indexAt(view.viewport().rect().bottomLeft()).row() > 9_900 or (
        view.indexAt(view.viewport().rect().center()).row() > 9_900
    )
    kept = QPersistentModelIndex(model.index(5000, 0))
    resets = model.resets
    window.session.jobs.cancel(ids[5000])
    started = time.perf_counter()
    with qtbot.assertNotEmitted(model.modelAboutToBeReset):
        panel.update_job(ids[5000])
    assert time.perf_counter() - started < 0.5
    assert model.resets == resets and model.rowCount() == 10_000
    assert kept.isValid() and kept.row() == 5000
    assert model.text(5000, 1) == "cancelled"


def test_running_job_pinned_with_progress_then_failed_flagged(window: MainWindow, qtbot) -> None:
    ids = _add(window, 5)
    panel, model, bridge = window.queue, window.queue.model, window.session.bridge
    panel.refresh()
    panel.order.setCurrentIndex(1)  # newest first: the first job queued is the last row
    assert model.job_ids()[-1] == ids[0]
    # the job that starts moves to the top on its own event, without a reload
    with qtbot.assertNotEmitted(model.modelAboutToBeReset):
        running = window.session.jobs.claim_next("test-worker")
        assert running is not None and running.id == ids[0]
        bridge.jobStarted.emit(running)
        assert model.job_ids()[0] == running.id
        image = QImage(64, 64, QImage.Format.Format_RGB888)
        image.fill(QColor(20, 200, 40))
        bridge.step.emit(running, 1, 10, image)
        time.sleep(0.05)
        bridge.step.emit(running, 3, 10, image)
    assert model.text(0, 1) == "running 3/10"
    assert "ETA" in model.text(0, 5)
    assert not panel.preview.pixmap().isNull()
    window.session.jobs.finish(running.id, "failed", "ModelError", "demo:nope: no such model")
    bridge.jobFailed.emit(running, "ModelError", "demo:nope: no such model")
    assert panel.preview.pixmap().isNull()  # the failed job's preview does not stay up
    row = model.row_of(running.id)
    assert model.text(row, 1) == "FAILED" and "no such model" in model.text(row, 4)
    assert model.index(row, 1).data(Qt.ItemDataRole.ForegroundRole) == FAILED


def test_newest_first_is_a_choice(window: MainWindow) -> None:
    ids = _add(window, 4)
    window.queue.refresh()
    assert window.queue.job_ids() == ids
    window.queue.order.setCurrentIndex(1)
    assert window.queue.job_ids() == ids[::-1]
    assert not window.queue.list.dragEnabled()  # drops place jobs in queue order only
    window.queue.order.setCurrentIndex(0)
    assert window.queue.job_ids() == ids and window.queue.list.dragEnabled()


def test_jobs_added_elsewhere_show_when_the_window_regains_focus(window: MainWindow, qtbot) -> None:
    from PySide6.QtCore import QEvent
    from PySide6.QtWidgets import QApplication

    window.queue.refresh()
    ids = _add(window, 3)  # as `atelier queue add` in a terminal would
    assert window.queue.job_ids() == []  # no polling: nothing rebuilds the list every second
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    QApplication.sendEvent(window, QEvent(QEvent.Type.ActivationChange))
    assert window.queue.job_ids() == ids
