"""Where a model's files come from: a built-in demo, a hub id, a local folder or one weights file.

Nothing is downloaded here: a hub id is only read from the local Hugging Face cache
(`core.models.hub_download`, `atelier models download`, fills it).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from core.errors import ModelError
from core.models.weights_file import PICKLE_SUFFIXES, SAFE_SUFFIXES, WEIGHT_SUFFIXES

_HUB_ID = re.compile(r"^(?P<repo>[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*)(?:@(?P<rev>[\w./-]+))?$")


@dataclass(frozen=True)
class ModelSource:
    """A parsed model reference. `location` is the demo name, the hub id, or an absolute path."""

    type: str  # one of core.library.schema.SOURCE_TYPES
    location: str
    revision: str | None = None
    config: str | None = None  # a single file's local diffusers config folder
    allow_pickle: bool = False


def parse_source(
    text: str,
    *,
    config: str | None = None,
    revision: str | None = None,
    allow_pickle: bool = False,
) -> ModelSource:
    """Tell what a model reference names; ModelError saying why when it names nothing usable."""
    text = text.strip()
    if not text:
        raise ModelError("model: empty model reference")
    if text.startswith("demo:"):
        return _only_for_single_file(ModelSource("demo", text), config)
    path = Path(text).expanduser()
    if path.is_dir():
        return _only_for_single_file(ModelSource("folder", str(path.resolve())), config)
    if path.is_file():
        return _single_file(path, config=config, allow_pickle=allow_pickle)
    match = _HUB_ID.match(text)
    if match and path.suffix.lower() not in WEIGHT_SUFFIXES:
        source = ModelSource("hub", match["repo"], revision=match["rev"] or revision)
        return _only_for_single_file(source, config)
    if "/" in text or os.sep in text or path.suffix.lower() in WEIGHT_SUFFIXES:
        raise ModelError(f"{text}: file not found")
    raise ModelError(f"{text}: not a model name, a folder, a weights file or a hub id")


def _single_file(path: Path, *, config: str | None, allow_pickle: bool) -> ModelSource:
    suffix = path.suffix.lower()
    if suffix in PICKLE_SUFFIXES and not allow_pickle:
        raise ModelError(
            f"{path}: {suffix} weights are Python pickles, which can run code when loaded; "
            "refused. Convert it to .safetensors, or allow pickles for this one file if you "
            "trust where it came from (allow_pickle=True; on the command line --allow-pickle)"
        )
    if suffix not in SAFE_SUFFIXES + PICKLE_SUFFIXES:
        raise ModelError(
            f"{path}: not a weights file (expected .safetensors, or with pickles allowed "
            f"{', '.join(PICKLE_SUFFIXES)})"
        )
    config_path = None
    if config is not None:
        folder = Path(config).expanduser()
        if not folder.is_dir():
            raise ModelError(f"{config}: config folder not found (a local diffusers model folder)")
        config_path = str(folder.resolve())
    return ModelSource(
        "single_file",
        str(path.resolve()),
        config=config_path,
        allow_pickle=allow_pickle and suffix in PICKLE_SUFFIXES,
    )


def _only_for_single_file(source: ModelSource, config: str | None) -> ModelSource:
    if config is not None:
        raise ModelError(
            f"{source.location}: a config folder only goes with a single weights file, "
            f"not with a {source.type} model"
        )
    return source


def local_path(source: ModelSource) -> Path:
    """The local folder or file holding the model; nothing is downloaded."""
    if source.type == "demo":
        from core.models.demo import demo_model_path

        return demo_model_path(source.location)
    if source.type == "hub":
        return hub_snapshot(source.location, source.revision)
    if source.type in ("folder", "single_file"):
        path = Path(source.location)
        exists = path.is_dir() if source.type == "folder" else path.is_file()
        if not exists:
            what = "folder" if source.type == "folder" else "file"
            raise ModelError(f"{path}: {what} not found (moved or deleted?)")
        return path
    raise ModelError(f"{source.location}: unknown model source type {source.type!r}")


def hf_cache_dir() -> Path:
    """The Hugging Face hub cache, read from the environment now (not at import time)."""
    for name in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(name):
            return Path(os.environ[name]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg).expanduser() / "huggingface" / "hub"


def hub_snapshot(repo_id: str, revision: str | None = None) -> Path:
    """The snapshot folder of a hub model in the local cache; ModelError when it is not there."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    cache = hf_cache_dir()
    try:
        folder = snapshot_download(
            repo_id, revision=revision, cache_dir=str(cache), local_files_only=True
        )
    except (LocalEntryNotFoundError, FileNotFoundError, OSError, ValueError) as exc:
        ref = f"{repo_id}@{revision}" if revision else repo_id
        rev = f" --revision {revision}" if revision else ""
        raise ModelError(
            f"{ref}: not in the local Hugging Face cache ({cache}); download it first with "
            f"`atelier models download {repo_id}{rev}` (or `hf download {repo_id}{rev}`), or "
            "point HF_HUB_CACHE at a cache that has it"
        ) from exc
    return Path(folder)
