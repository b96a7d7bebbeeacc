"""Where Atelier keeps things: the library home, caches, and the shipped resources."""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path


def resources_dir() -> Path:
    """The shipped resources (the demo model's weights, the CLIP tokenizer): the `resources`
    folder inside the `core` package, found by `importlib.resources` wherever it is installed
    (a checkout, a wheel, a bundle). `ATELIER_RESOURCES` points elsewhere, for development."""
    override = os.environ.get("ATELIER_RESOURCES")
    if override:
        return Path(override).expanduser()
    return Path(str(files("core").joinpath("resources")))


def user_cache_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir("atelier"))
