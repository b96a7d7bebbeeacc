"""Where Atelier keeps things: the library home, caches, and the shipped resources."""

from __future__ import annotations

import os
from pathlib import Path


def resources_dir() -> Path:
    """The `resources/` folder shipped beside the packages (`ATELIER_RESOURCES` overrides)."""
    override = os.environ.get("ATELIER_RESOURCES")
    return Path(override) if override else Path(__file__).resolve().parent.parent / "resources"


def user_cache_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir("atelier"))
