"""Preferences kept between runs: a QSettings INI file (`ATELIER_SETTINGS` or the user's)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings

SETTINGS_ENV = "ATELIER_SETTINGS"
PROJECT_KEY = "generate/project"  # the project new jobs go into


@dataclass
class Preferences:
    """What the settings dialog edits. Empty strings and 0 mean "automatic"."""

    device: str = ""
    dtype: str = ""
    attention_slicing: bool = False
    vae_tiling: bool = False
    cpu_offload: bool = False
    threads: int = 0
    output_folder: str = ""
    library_home: str = ""
    model_folders: list[str] = field(default_factory=list)  # where "Add model..." looks first
    # the queue's jobs run on a Ray cluster (docs/cluster.md): at this address, or "" for the
    # one `ray start` left on this machine, or "local" for a Ray of the worker's own
    cluster: bool = False
    cluster_address: str = ""

    def ray_address(self) -> str | None:
        """What the worker process is started with (`--ray`); None: a local worker."""
        return (self.cluster_address.strip() or "auto") if self.cluster else None

    def request_changes(self) -> dict[str, Any]:
        """The request fields these preferences set on every queued job."""
        return {
            "device": self.device or None,
            "dtype": self.dtype or None,
            "threads": self.threads or None,
            "attention_slicing": self.attention_slicing,
            "vae_tiling": self.vae_tiling,
            "cpu_offload": self.cpu_offload,
        }


def open_settings() -> QSettings:
    """The INI file at `$ATELIER_SETTINGS`, else the platform's per-user location."""
    override = os.environ.get(SETTINGS_ENV)
    if override:
        return QSettings(str(Path(override).expanduser()), QSettings.Format.IniFormat)
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, "Atelier", "atelier")


def load_preferences(settings: QSettings) -> Preferences:
    prefs = Preferences()
    for f in fields(Preferences):
        raw = settings.value(f"preferences/{f.name}")
        if raw is None:
            continue
        setattr(prefs, f.name, _convert(raw, getattr(prefs, f.name)))
    return prefs


def save_preferences(settings: QSettings, prefs: Preferences) -> None:
    for f in fields(Preferences):
        value = getattr(prefs, f.name)
        # a list is kept as JSON text: INI lists of one item come back as a plain string
        settings.setValue(
            f"preferences/{f.name}", json.dumps(value) if isinstance(value, list) else value
        )
    settings.sync()


def load_project(settings: QSettings) -> str:
    value = settings.value(PROJECT_KEY)
    return str(value).strip() if value else "default"


def save_project(settings: QSettings, name: str) -> None:
    settings.setValue(PROJECT_KEY, name)
    settings.sync()


def _convert(raw: Any, default: Any) -> Any:
    """INI values come back as strings; turn them into the default's type."""
    if isinstance(default, list):
        try:
            value = json.loads(raw) if isinstance(raw, str) else raw
        except ValueError:
            return default
        return [str(v) for v in value] if isinstance(value, list) else default
    if isinstance(default, bool):
        return raw if isinstance(raw, bool) else str(raw).lower() in ("1", "true", "yes")
    if isinstance(default, int):
        try:
            return int(raw)
        except (TypeError, ValueError):
            return default
    return str(raw)
