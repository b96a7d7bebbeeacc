"""Shared fixtures: the demo models built once per session into a temporary folder."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.models.demo import demo_model_path


@pytest.fixture(scope="session")
def demo_models(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """ATELIER_DEMO_DIR set to a session folder; demo models are built there on first use."""
    with pytest.MonkeyPatch.context() as patch:
        folder = tmp_path_factory.mktemp("demo-models")
        patch.setenv("ATELIER_DEMO_DIR", str(folder))
        yield folder


@pytest.fixture(scope="session")
def sd_folder(demo_models: Path) -> Path:
    return demo_model_path("demo:sd")


@pytest.fixture()
def sd_copy(sd_folder: Path, tmp_path: Path) -> Path:
    """A private copy of demo:sd that a test may change."""
    return Path(shutil.copytree(sd_folder, tmp_path / "sd"))


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every model here loads from local files: any connection attempt fails the test."""
    import socket

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"network access attempted: {args[1:]}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
