"""Settings persist across windows (and restarts), in the INI file named by ATELIER_SETTINGS."""

from __future__ import annotations

from pathlib import Path

from desktop.panels.settings import SettingsDialog
from desktop.settings import Preferences


def test_settings_persist_across_a_new_window(make_window, settings_file: Path, tmp_path) -> None:
    first = make_window()
    prefs = Preferences(
        device="cpu", dtype="float32", vae_tiling=True, threads=2,
        output_folder=str(tmp_path / "out"), library_home=str(tmp_path / "elsewhere"),
    )  # fmt: skip
    first.apply_preferences(prefs)
    first.close()
    assert settings_file.is_file()
    second = make_window()
    assert second.session.prefs == prefs
    # queued jobs carry the preferences
    second.generate.model.setCurrentText("demo:sd")
    (job,) = second.generate.queue_jobs(1)
    assert job.request.device == "cpu" and job.request.threads == 2 and job.request.vae_tiling
    assert job.out_dir == str(tmp_path / "out")


def test_the_settings_dialog_round_trips(qtbot) -> None:
    prefs = Preferences(device="cpu", cpu_offload=True, threads=3, output_folder="/tmp/x")
    dialog = SettingsDialog(prefs)
    qtbot.addWidget(dialog)
    assert dialog.preferences() == prefs
    dialog.device.setCurrentText("auto")
    assert dialog.preferences().device == ""


def test_model_folders_persist(make_window, tmp_path) -> None:
    folders = [str(tmp_path / "models, one"), str(tmp_path / "two")]
    first = make_window()
    dialog = SettingsDialog(first.session.prefs, first)
    for folder in folders:
        dialog.add_model_folder(folder)
    dialog.add_model_folder(folders[0])  # once only
    assert dialog.folders() == folders
    first.apply_preferences(dialog.preferences())
    first.close()
    second = make_window()
    assert second.session.prefs.model_folders == folders
    assert second.library.models._start_folder() == folders[0]
    dialog = SettingsDialog(second.session.prefs, second)
    dialog.model_folders.setCurrentRow(1)
    dialog.remove_folder()
    second.apply_preferences(dialog.preferences())
    second.close()
    assert make_window().session.prefs.model_folders == folders[:1]
