"""The whole path: generate panel -> queue -> gallery -> inspector -> reproduce says exact."""

from __future__ import annotations

import pytest
from desktop_helpers import fill_demo
from PIL import Image
from PySide6.QtCore import Qt

from desktop.main_window import MainWindow

JOB_TIMEOUT_MS = 90_000


def test_generate_queue_gallery_inspector_reproduce(running_window: MainWindow, qtbot) -> None:
    window = running_window
    bridge = window.session.bridge
    fill_demo(window, steps=3, seed=11)
    with qtbot.waitSignal(bridge.jobDone, timeout=JOB_TIMEOUT_MS) as done:
        qtbot.mouseClick(window.generate.queue_button, Qt.MouseButton.LeftButton)
    job, outputs = done.args
    assert job.request.seed == 11 and len(outputs) == 1
    output_id = outputs[0].output_id

    # the queue shows the job done and the gallery the new image
    qtbot.waitUntil(lambda: window.session.jobs.get(job.id).status == "done")
    window.queue.refresh()
    assert window.queue.model.text(0, 1) == "done"
    qtbot.waitUntil(lambda: window.history.model.rowCount() == 1)
    assert window.history.select_output(output_id)
    assert window.inspector.output is not None and window.inspector.output.id == output_id
    assert "seed: 11" in window.inspector.details.toPlainText()
    # the gallery asks for the thumbnail when it paints the cell; it is cached on disk
    thumbnail = window.session.home / "thumbnails" / f"{outputs[0].sha256}.png"
    window.history.view.viewport().update()
    qtbot.waitUntil(thumbnail.is_file)
    qtbot.waitUntil(lambda: window.history.thumbnails.get(outputs[0].sha256, "") is not None)

    # the search box filters by prompt
    window.history.search.setText("zebra")
    window.history.apply_filter()
    assert window.history.model.rowCount() == 0
    window.history.search.setText("fox")
    window.history.apply_filter()
    assert window.history.model.rowCount() == 1
    assert window.history.select_output(output_id)

    # reproduce & verify runs off the GUI thread and says exact
    with qtbot.waitSignal(window.inspector.reproduced, timeout=JOB_TIMEOUT_MS) as verified:
        qtbot.mouseClick(window.inspector.buttons["Reproduce & verify"], Qt.MouseButton.LeftButton)
    report = verified.args[0]
    assert report.status == "exact", report.to_dict()
    assert "exact" in window.inspector.verdict.text()
    # it ran in a process of its own; one that fails says why
    with pytest.raises(RuntimeError, match="no output 99999 in this library"):
        window.session.reproduce(99999)

    # use these settings fills the generate panel from the record
    window.generate.prompt.setPlainText("something else")
    window.inspector.use_settings()
    assert window.generate.prompt.toPlainText() == "a red fox in the snow"
    assert window.generate.seed.value() == 11 and not window.generate.random_seed.isChecked()

    # send to upscale sets the task, the init image and the demo model for it
    window.inspector.buttons["Send to upscale"].click()
    assert window.generate.task.currentText() == "upscale"
    assert window.generate.init_image.text() == f"output:{output_id}"
    assert window.generate.model.currentText() == "demo:sd-upscale"

    # queued to the worker that has idled all this while (its poll is ten minutes here): the
    # window's wake-up starts it at once, and the upscale is four times the size
    with qtbot.waitSignal(bridge.jobDone, timeout=JOB_TIMEOUT_MS) as upscaled:
        qtbot.mouseClick(window.generate.queue_button, Qt.MouseButton.LeftButton)
    job, outputs = upscaled.args
    assert job.request.task == "upscale" and len(outputs) == 1
    with Image.open(outputs[0].path) as image:
        assert image.size == (256, 256)


def test_reproduce_while_a_job_runs_waits_for_it_and_says_so(
    running_window: MainWindow, qtbot
) -> None:
    """Reproduce & verify runs in the worker process with its loaded model, after the job it
    is running; the inspector says it waits."""
    window = running_window
    bridge = window.session.bridge
    fill_demo(window, steps=2, seed=5)
    with qtbot.waitSignal(bridge.jobDone, timeout=JOB_TIMEOUT_MS) as done:
        window.generate.queue_jobs(1)
    output_id = done.args[1][0].output_id
    qtbot.waitUntil(lambda: window.history.model.rowCount() == 1)
    assert window.history.select_output(output_id)

    fill_demo(window, steps=300, seed=6)
    with qtbot.waitSignal(bridge.step, timeout=JOB_TIMEOUT_MS):
        (long_job,) = window.generate.queue_jobs(1)
    assert window.session.worker_busy()
    with qtbot.waitSignal(window.inspector.reproduced, timeout=JOB_TIMEOUT_MS) as verified:
        qtbot.mouseClick(window.inspector.buttons["Reproduce & verify"], Qt.MouseButton.LeftButton)
        assert "after the running job" in window.inspector.verdict.text()
    assert verified.args[0].status == "exact"
    assert window.session.jobs.get(long_job.id).status == "done"  # it finished first
    assert not window.session.worker_busy()


def test_without_a_worker_reproduce_runs_in_a_process_of_its_own(window: MainWindow) -> None:
    assert not window.session.worker_running
    with pytest.raises(RuntimeError, match="no output 99999 in this library"):
        window.session.reproduce(99999)  # `atelier reproduce 99999 --json`, its error read back
