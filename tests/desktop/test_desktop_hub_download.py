""" "Add model > From Hugging Face...": a download with progress and Cancel, from a local server
speaking the hub's API, then the model in the library's list."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core" / "models"))
from hub_server import FakeHub, start, tiny_sd_repo

from core.paths import resources_dir
from desktop.main_window import MainWindow

REPO = "tests/tiny-sd"


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    fake = FakeHub(repos={REPO: tiny_sd_repo(resources_dir())})
    server, thread = start(fake)
    monkeypatch.setenv("HF_ENDPOINT", fake.url)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    yield fake
    server.shutdown()
    thread.join()


def test_a_cancelled_download_then_a_finished_one_adds_the_model(
    window: MainWindow, hub: FakeHub, qtbot: QtBot
) -> None:
    models = window.library.models
    dialog = models.download_dialog()
    dialog.repo.setText(REPO)
    dialog.name.setText("tiny")
    dialog.start()
    dialog.stop_or_close()  # Cancel while it runs: stops, keeps the dialog open
    qtbot.waitUntil(lambda: not dialog.running, timeout=30_000)
    assert "cancelled" in dialog.status.text() and dialog.isVisible()
    assert window.session.library.models.get("tiny") is None

    with qtbot.waitSignal(models.modelsChanged, timeout=60_000):
        dialog.start()
    assert not dialog.isVisible()
    assert dialog.bar.value() == 1000  # the progress bar reached the end
    assert "tiny" in models.names()
    assert "added tiny" in window.statusBar().currentMessage()


def test_a_missing_repository_is_a_message_in_the_dialog(
    window: MainWindow, hub: FakeHub, qtbot: QtBot
) -> None:
    dialog = window.library.models.download_dialog()
    dialog.repo.setText("tests/nothing-here")
    dialog.start()
    qtbot.waitUntil(lambda: not dialog.running, timeout=30_000)
    assert "no such repository" in dialog.status.text()
    dialog.stop_or_close()
    assert not dialog.isVisible()
