from __future__ import annotations

from pathlib import Path

import pytest

from training.subject import render_instances


@pytest.fixture(scope="session")
def subject_images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six 64x64 renders of a purple star on three backgrounds (no caption files)."""
    folder = tmp_path_factory.mktemp("subject")
    render_instances(folder, captions=False)
    return folder
