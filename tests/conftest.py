"""Shared fixtures: demo models built once per test session, offline, in a temporary folder."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# Set before anything imports the core, and inherited by every subprocess a test starts.
_DEMO = os.environ.setdefault("ATELIER_DEMO_DIR", tempfile.mkdtemp(prefix="atelier-demo-models-"))
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.pop("ATELIER_HOME", None)
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # see ray_test_cluster
if os.environ.get("ATELIER_BLOCK_QT"):  # `make test-fast`: the core tests with Qt unimportable
    from no_qt import block_qt

    block_qt()

from ray_test_cluster import ray_cluster  # noqa: E402, F401  (one cluster for the whole session)


@pytest.fixture(scope="session")
def demo_dir() -> Path:
    return Path(_DEMO)
