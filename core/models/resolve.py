"""From a model source to everything the library and the engine need to know about the model."""

from __future__ import annotations

import os
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.models.fingerprint import FingerprintCache, fingerprint_model
from core.models.kinds import detect_kind, read_json
from core.models.sources import ModelSource, local_path

DEFAULT_STEPS = 30
DEFAULT_CFG_SCALE = 7.5
# The trained size of each kind, for a single file whose configs are not at hand.
_KIND_SIZES = {
    "sd1": 512,
    "sd2": 768,
    "inpaint": 512,
    "depth": 512,
    "sdxl": 1024,
    "sdxl-refiner": 1024,
}


@dataclass(frozen=True)
class ResolvedModel:
    name: str
    source: ModelSource
    kind: str
    path: Path
    config_path: Path | None
    fingerprint: str
    components: dict[str, str] = field(default_factory=dict)
    size_bytes: int = 0
    defaults: dict[str, Any] = field(default_factory=dict)


def resolve_source(
    source: ModelSource, name: str, cache: FingerprintCache | None = None
) -> ResolvedModel:
    """Find the model's files, tell its kind, fingerprint its weights, and read its defaults."""
    path = local_path(source)
    config_path = Path(source.config) if source.config else None
    kind = detect_kind(path, config_path)
    fp = fingerprint_model(path, cache)
    return ResolvedModel(
        name=name,
        source=source,
        kind=kind,
        path=path,
        config_path=config_path,
        fingerprint=fp.sha256,
        components=fp.components,
        size_bytes=fp.size_bytes,
        defaults=model_defaults(config_path or path, kind),
    )


class ResolvedModels:
    """Resolved models kept between jobs, each checked against its files before it is reused.

    Resolving a folder walks it, stats and looks up every weight file's hash and reads its
    configs: about 1 ms a job, for a model that rarely changes between two jobs. A kept model is
    reused while every file and folder under it (and under a single file's config folder) has
    the size and modification time it had when it was resolved; anything added, removed,
    replaced or rewritten resolves it again. This is the same trust the weight-file hash cache
    already places in (size, mtime).
    """

    def __init__(self, hashes: FingerprintCache | None = None, keep: int = 16) -> None:
        self.hashes = hashes
        self.keep = keep
        self._kept: OrderedDict[tuple[ModelSource, str], tuple[object, ResolvedModel]] = (
            OrderedDict()
        )

    def resolve(self, source: ModelSource, name: str) -> ResolvedModel:
        key = (source, name)
        path = local_path(source)
        config = Path(source.config) if source.config else None
        stamp = (path, files_stamp(path), files_stamp(config) if config else None)
        kept = self._kept.get(key)
        if kept is not None and kept[0] == stamp:
            self._kept.move_to_end(key)
            return kept[1]
        model = resolve_source(source, name, self.hashes)
        self._kept[key] = (stamp, model)
        self._kept.move_to_end(key)
        while len(self._kept) > self.keep:
            self._kept.popitem(last=False)
        return model


def files_stamp(path: Path) -> tuple[tuple[str, int, int], ...]:
    """(relative path, size, mtime_ns) of `path` and of everything under it; symlinks followed
    for files (a hub snapshot links its blobs), not for folders; unreadable entries count as
    (-1, -1), so they change the stamp when they become readable."""
    entries: list[tuple[str, int, int]] = []

    def add(rel: str, target: str | os.DirEntry[str]) -> None:
        try:
            st = target.stat() if isinstance(target, os.DirEntry) else os.stat(target)
            entries.append((rel, st.st_size, st.st_mtime_ns))
        except OSError:
            entries.append((rel, -1, -1))

    add("", str(path))
    pending = [("", str(path))] if path.is_dir() else []
    while pending:
        rel_dir, folder = pending.pop()
        try:
            with os.scandir(folder) as listing:
                children = sorted(listing, key=lambda e: e.name)
        except OSError:
            continue
        for entry in children:
            rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            add(rel, entry)
            if entry.is_dir(follow_symlinks=False):
                pending.append((rel, entry.path))
    return tuple(entries)


def kind_size(kind: str) -> int | None:
    """The size models of `kind` are trained at (512 for sd1, 1024 for sdxl...)."""
    return _KIND_SIZES.get(kind)


def model_defaults(folder: Path, kind: str) -> dict[str, Any]:
    """width, height, steps, cfg_scale and scheduler (None: the model's own) for a model.

    A model's atelier.json "defaults" win; otherwise the size is the one the UNet was trained at
    (sample_size x the VAE's scale factor), and the x4 upscaler has none (the input decides).
    """
    width = height = None
    if kind != "upscale-x4":
        width = height = _trained_size(folder) or _KIND_SIZES.get(kind)
    defaults: dict[str, Any] = {
        "width": width,
        "height": height,
        "steps": DEFAULT_STEPS,
        "cfg_scale": DEFAULT_CFG_SCALE,
        "scheduler": None,
    }
    marker = folder / "atelier.json"
    if folder.is_dir() and marker.is_file():
        own = read_json(marker).get("defaults")
        if isinstance(own, dict):
            defaults.update(own)
    return defaults


def _trained_size(folder: Path) -> int | None:
    unet_path = folder / "unet" / "config.json"
    vae_path = folder / "vae" / "config.json"
    if not (folder.is_dir() and unet_path.is_file() and vae_path.is_file()):
        return None
    sample_size = read_json(unet_path).get("sample_size")
    blocks = read_json(vae_path).get("block_out_channels")
    if not isinstance(sample_size, int) or not isinstance(blocks, list) or not blocks:
        return None
    return int(sample_size * 2 ** (len(blocks) - 1))
