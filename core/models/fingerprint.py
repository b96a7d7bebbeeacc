"""Fingerprints: the sha256 of a model's weights, so a record names exactly what made an image.

A single file's fingerprint is the sha256 of its bytes (its first 10 hex digits are A1111's
"Model hash"). A folder's is the sha256 of the canonical JSON {relative path: sha256} over its
weight files; each top-level subfolder (unet, vae, text_encoder, ...) gets one the same way,
with paths relative to that subfolder, so a component's fingerprint equals the fingerprint of
the same folder given on its own (a VAE override, say).
Each file is hashed once per (absolute path, size, mtime_ns) when a cache is given.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from core.errors import ModelError
from core.models.weights_file import is_weight_file
from core.request import canonical_json

_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Fingerprint:
    sha256: str
    components: dict[str, str] = field(default_factory=dict)
    size_bytes: int = 0


class FingerprintCache(Protocol):
    def get(self, path: str, size: int, mtime_ns: int) -> str | None: ...

    def put(self, path: str, size: int, mtime_ns: int, sha256: str) -> None: ...


class MemoryFingerprintCache:
    """A FingerprintCache in a dict, for tests and one-shot command-line runs."""

    def __init__(self) -> None:
        self.entries: dict[tuple[str, int, int], str] = {}
        self.hits = 0
        self.misses = 0

    def get(self, path: str, size: int, mtime_ns: int) -> str | None:
        found = self.entries.get((path, size, mtime_ns))
        if found is None:
            self.misses += 1
        else:
            self.hits += 1
        return found

    def put(self, path: str, size: int, mtime_ns: int, sha256: str) -> None:
        self.entries[(path, size, mtime_ns)] = sha256


class LayeredFingerprintCache:
    """A dict in front of a slower cache (the library's table): each file's hash is looked up
    in the database once per process, not once per job."""

    def __init__(self, behind: FingerprintCache) -> None:
        self.memory = MemoryFingerprintCache()
        self.behind = behind

    def get(self, path: str, size: int, mtime_ns: int) -> str | None:
        found = self.memory.get(path, size, mtime_ns)
        if found is None:
            found = self.behind.get(path, size, mtime_ns)
            if found is not None:
                self.memory.put(path, size, mtime_ns, found)
        return found

    def put(self, path: str, size: int, mtime_ns: int, sha256: str) -> None:
        self.memory.put(path, size, mtime_ns, sha256)
        self.behind.put(path, size, mtime_ns, sha256)


def fingerprint_model(path: Path, cache: FingerprintCache | None = None) -> Fingerprint:
    """The fingerprint of a weights file or of every weight file in a model folder."""
    if path.is_file():
        return Fingerprint(hash_file(path, cache), {}, path.stat().st_size)
    if not path.is_dir():
        raise ModelError(f"{path}: not found")
    files = weight_files(path)
    if not files:
        raise ModelError(f"{path}: no weight files (*.safetensors, *.bin, *.ckpt, *.pt, *.pth)")
    hashes = {rel: hash_file(path / rel, cache) for rel in files}
    groups: dict[str, dict[str, str]] = {}
    for rel, sha in hashes.items():
        top, sep, inner = rel.partition("/")
        if sep:  # relative to the subfolder: a component hashes like that folder on its own
            groups.setdefault(top, {})[inner] = sha
    components = {name: _combine(group) for name, group in sorted(groups.items())}
    size = sum((path / rel).stat().st_size for rel in files)
    return Fingerprint(_combine(hashes), components, size)


def verify_fingerprint(path: Path, expected: str) -> bool:
    """Whether the weights still hash to `expected`, every byte read again (no cache)."""
    return fingerprint_model(path, cache=None).sha256 == expected


def weight_files(folder: Path) -> list[str]:
    """Relative POSIX paths of the weight files under `folder`, sorted; hidden folders skipped."""
    found = []
    for file in folder.rglob("*"):
        rel = file.relative_to(folder)
        if any(part.startswith(".") for part in rel.parts):
            continue
        if is_weight_file(file) and file.is_file():
            found.append(rel.as_posix())
    return sorted(found)


def hash_file(path: Path, cache: FingerprintCache | None = None) -> str:
    """sha256 of a file's bytes, through the cache keyed by (absolute path, size, mtime_ns)."""
    try:
        real = path.resolve()
        stat = real.stat()
        key = (str(real), stat.st_size, stat.st_mtime_ns)
        if cache is not None:
            known = cache.get(*key)
            if known is not None:
                return known
        digest = hashlib.sha256()
        with real.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
    except OSError as exc:
        raise ModelError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    sha = digest.hexdigest()
    if cache is not None:
        cache.put(*key, sha)
    return sha


def _combine(hashes: dict[str, str]) -> str:
    return hashlib.sha256(canonical_json(hashes).encode("utf-8")).hexdigest()
