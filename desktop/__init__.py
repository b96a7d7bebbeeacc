"""The desktop GUI (PySide6): panels over the Qt-free core, one bridge for the worker's events."""

from __future__ import annotations

from typing import Any


def launch(args: Any) -> int:
    """`atelier` with no command, or `atelier gui`: the desktop window."""
    from desktop.app import launch as launch_app

    return launch_app(args)
