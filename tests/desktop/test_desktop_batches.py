"""Folder batches (File > Folder batch...) and sweeps (the generate panel's Sweep...)."""

from __future__ import annotations

from pathlib import Path

from desktop_helpers import fill_demo, write_png
from PIL import Image

from desktop.main_window import MainWindow
from desktop.panels.batch_dialog import FolderBatchDialog
from desktop.panels.sweep_dialog import SweepDialog


def _batch_dialog(window: MainWindow, qtbot, folder: Path, out: Path) -> FolderBatchDialog:
    fill_demo(window, task="img2img")
    dialog = FolderBatchDialog(
        window.generate.request(), ["demo:sd", "demo:sd-inpaint"], "", window
    )
    qtbot.addWidget(dialog)
    dialog.input_dir.setText(str(folder))
    dialog.out_dir.setText(str(out))
    return dialog


def test_a_folder_of_three_images_queues_three_jobs(window: MainWindow, qtbot, tmp_path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a", "b", "c"):
        write_png(folder / f"{name}.png")
    out = tmp_path / "out"
    dialog = _batch_dialog(window, qtbot, folder, out)
    assert dialog.task.currentText() == "img2img" and dialog.model.currentText() == "demo:sd"
    jobs = window.start_folder_batch(dialog)
    assert len(jobs) == 3
    assert sorted(j.stem for j in jobs) == ["a", "b", "c"]
    assert {j.out_dir for j in jobs} == {str(out.resolve())}
    assert all(j.request.task == "img2img" and j.request.steps == 2 for j in jobs)
    assert {Path(j.request.init_image).name for j in jobs} == {"a.png", "b.png", "c.png"}
    assert "3 jobs queued" in window.statusBar().currentMessage()
    assert len(window.queue.job_ids()) == 3
    assert not window.batches.watched and not window.stop_watching_action.isEnabled()


def test_a_watched_folder_picks_up_a_new_file(window: MainWindow, qtbot, tmp_path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    write_png(folder / "first.png")
    dialog = _batch_dialog(window, qtbot, folder, tmp_path / "out")
    dialog.watch.setChecked(True)
    assert len(window.start_folder_batch(dialog)) == 1
    assert window.batches.timer.isActive() and window.stop_watching_action.isEnabled()
    assert "watching 1" in window.watching.text()
    write_png(folder / "second.png")
    qtbot.waitUntil(lambda: len(window.session.jobs.list()) == 2, timeout=10_000)
    assert window.session.jobs.list()[-1].stem == "second"
    window.stop_watching_action.trigger()
    assert not window.batches.timer.isActive() and window.watching.text() == ""


def test_bad_batch_input_names_the_field(window: MainWindow, qtbot, tmp_path) -> None:
    dialog = _batch_dialog(window, qtbot, tmp_path / "missing", tmp_path / "out")
    dialog.input_dir.setText("")
    assert window.start_folder_batch(dialog) == []
    assert "input" in window.statusBar().currentMessage()
    dialog.input_dir.setText(str(tmp_path))
    dialog.task.setCurrentText("inpaint")
    assert dialog.model.currentText() == "demo:sd-inpaint"
    assert window.start_folder_batch(dialog) == []
    assert "masks" in window.statusBar().currentMessage()
    dialog._ok()  # the dialog stays open and marks the field
    assert "masks" in dialog.error.text() and dialog.masks_dir.styleSheet()
    assert window.session.jobs.list() == []


def test_a_two_by_two_sweep_makes_a_grid(running_window: MainWindow, qtbot) -> None:
    window = running_window
    fill_demo(window, steps=2, seed=5)
    dialog = SweepDialog(window.generate.check(), window)
    qtbot.addWidget(dialog)
    dialog.x_param.setCurrentText("cfg")
    dialog.x_values.setText("3,7")
    dialog.y_param.setCurrentText("steps")
    dialog.y_values.setText("1,2")
    with qtbot.waitSignal(window.sweeps.gridReady, timeout=120_000) as ready:
        grid = window.start_sweep(dialog)
        assert grid is not None and len([j for row in grid.job_ids for j in row]) == 4
        assert len(window.session.jobs.list()) == 4
    grid_id, path = ready.args
    assert grid_id == grid.id and Path(path).is_file()
    with Image.open(path) as image:
        assert image.width >= 2 * 128 and image.height >= 2 * 128
    assert path in window.statusBar().currentMessage()
    cells = [window.session.jobs.get(j).request for row in grid.job_ids for j in row]
    assert [(c.cfg_scale, c.steps) for c in cells] == [(3.0, 1), (7.0, 1), (3.0, 2), (7.0, 2)]
    assert {c.seed for c in cells} == {5}
    # the grid is kept in the history, linked to its cells, and open in the viewer
    qtbot.waitUntil(lambda: window.history.viewer is not None, timeout=10_000)
    grid_output = window.history.selected_output_id()
    stored = window.session.library.runs.get_output(grid_output)
    cell_outputs = {o.id for o in window.session.library.runs.list_outputs()} - {grid_output}
    assert stored is not None and set(stored.parent_ids) == cell_outputs
    assert window.history.viewer.isVisible() and window.history.viewer.after_path == path


def test_a_bad_axis_is_a_message(window: MainWindow, qtbot) -> None:
    fill_demo(window)
    dialog = SweepDialog(window.generate.check(), window)
    qtbot.addWidget(dialog)
    dialog.x_param.setCurrentText("steps")
    dialog.x_values.setText("2,many")
    assert window.start_sweep(dialog) is None
    assert "many" in window.statusBar().currentMessage()
    dialog._ok()
    assert "many" in dialog.error.text()
    assert window.session.jobs.list() == []
