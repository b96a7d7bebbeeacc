"""Projects: the library dock's Projects tab and the generate panel's Project combo."""

from __future__ import annotations

from pathlib import Path

from desktop_helpers import fill_demo, write_png
from PySide6.QtCore import Qt

from desktop.main_window import MainWindow
from desktop.panels.batch_dialog import FolderBatchDialog
from desktop.panels.sweep_dialog import SweepDialog
from desktop.settings import load_project, open_settings

JOB_TIMEOUT_MS = 90_000


def test_a_job_lands_in_the_chosen_project(running_window: MainWindow, qtbot) -> None:
    window = running_window
    tab = window.library.projects
    assert tab.new_project("posters")
    assert window.generate.project.current() == "posters"
    assert window.history.project.currentText() == "posters"
    assert "posters" in tab.counts()
    fill_demo(window, steps=2, seed=3)
    with qtbot.waitSignal(window.session.bridge.jobDone, timeout=JOB_TIMEOUT_MS):
        (job,) = window.generate.queue_jobs(1)
    assert window.session.jobs.get(job.id).project == "posters"
    # the dock lists it with its count after the run; the gallery shows it
    qtbot.waitUntil(lambda: tab.counts().get("posters") == 1, timeout=30_000)
    qtbot.waitUntil(lambda: window.history.model.rowCount() == 1)
    # double-clicking a project selects it in the generate panel and filters the gallery
    window.library.projects.new_project("sketches")
    assert window.generate.project.current() == "sketches"
    assert window.history.model.rowCount() == 0
    items = tab.tree.findItems("posters", Qt.MatchFlag.MatchExactly, 0)
    tab._use(items[0], 0)  # what a double-click does
    assert window.generate.project.current() == "posters"
    assert window.history.project.currentText() == "posters"
    assert window.history.model.rowCount() == 1
    assert tab.counts()["posters"] == 1 and tab.counts()["sketches"] == 0


def test_the_project_persists_and_batches_and_sweeps_use_it(
    make_window, qtbot, tmp_path: Path
) -> None:
    first = make_window()
    assert first.generate.project.current() == "default"
    first.library.projects.new_project("posters")
    assert load_project(open_settings()) == "posters"
    first.close()
    window = make_window()
    assert window.generate.project.current() == "posters"
    fill_demo(window)
    jobs = window.generate.queue_jobs(4)  # Queue x4
    assert {window.session.jobs.get(j.id).project for j in jobs} == {"posters"}
    dialog = SweepDialog(window.generate.check(), window)
    qtbot.addWidget(dialog)
    dialog.x_param.setCurrentText("cfg")
    dialog.x_values.setText("3,7")
    grid = window.start_sweep(dialog)
    assert grid is not None
    cells = [window.session.jobs.get(j) for row in grid.job_ids for j in row]
    assert {c.project for c in cells} == {"posters"}
    folder = tmp_path / "in"
    folder.mkdir()
    write_png(folder / "a.png")
    fill_demo(window, task="img2img")
    batch = FolderBatchDialog(window.generate.request(), ["demo:sd"], "", window)
    qtbot.addWidget(batch)
    batch.input_dir.setText(str(folder))
    batch.out_dir.setText(str(tmp_path / "out"))
    (batch_job,) = window.start_folder_batch(batch)
    assert window.session.jobs.get(batch_job.id).project == "posters"
    # an empty name is a message, not a project
    assert not window.library.projects.new_project("  ")
    assert "needs a name" in window.statusBar().currentMessage()
