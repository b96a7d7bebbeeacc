"""Fingerprints: stable, computed once per file version, and changed by any changed byte."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from core.models.fingerprint import (
    MemoryFingerprintCache,
    fingerprint_model,
    verify_fingerprint,
    weight_files,
)

VAE_FILE = "vae/diffusion_pytorch_model.safetensors"


def flip_last_byte(path: Path, keep_mtime: bool = False) -> None:
    """Change one byte of tensor data (the header stays valid), optionally hiding the change."""
    stat = path.stat()
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01
    path.write_bytes(bytes(data))
    if keep_mtime:
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    else:
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


def test_single_file_fingerprint_is_the_sha256_of_its_bytes(sd_folder: Path) -> None:
    weights = sd_folder / "unet" / "diffusion_pytorch_model.safetensors"
    expected = hashlib.sha256(weights.read_bytes()).hexdigest()
    fp = fingerprint_model(weights)
    assert fp.sha256 == expected  # so fp.sha256[:10] is A1111's "Model hash"
    assert fp.size_bytes == weights.stat().st_size
    assert fp.components == {}


def test_folder_fingerprint_is_stable_and_has_components(sd_folder: Path) -> None:
    first = fingerprint_model(sd_folder)
    assert fingerprint_model(sd_folder) == first
    assert set(first.components) == {"unet", "vae", "text_encoder"}
    assert first.size_bytes == sum(
        (sd_folder / rel).stat().st_size for rel in weight_files(sd_folder)
    )
    # A component hashes like the same folder given on its own (a VAE override, say).
    assert fingerprint_model(sd_folder / "vae").sha256 == first.components["vae"]


def test_each_file_is_hashed_once_per_version(sd_copy: Path) -> None:
    cache = MemoryFingerprintCache()
    first = fingerprint_model(sd_copy, cache)
    files = len(weight_files(sd_copy))
    assert len(cache.entries) == files
    assert (cache.hits, cache.misses) == (0, files)

    assert fingerprint_model(sd_copy, cache) == first
    assert (cache.hits, cache.misses) == (files, files)  # nothing read again

    flip_last_byte(sd_copy / VAE_FILE)
    changed = fingerprint_model(sd_copy, cache)
    assert cache.misses == files + 1  # only the changed file (new mtime) was hashed again
    assert changed.sha256 != first.sha256
    assert changed.components["vae"] != first.components["vae"]
    assert changed.components["unet"] == first.components["unet"]
    assert changed.components["text_encoder"] == first.components["text_encoder"]


def test_verify_reads_every_byte_again(sd_copy: Path) -> None:
    cache = MemoryFingerprintCache()
    recorded = fingerprint_model(sd_copy, cache).sha256
    assert verify_fingerprint(sd_copy, recorded)

    flip_last_byte(
        sd_copy / VAE_FILE, keep_mtime=True
    )  # same size, same mtime: the cache is fooled
    assert fingerprint_model(sd_copy, cache).sha256 == recorded
    assert not verify_fingerprint(sd_copy, recorded)


def test_a_moved_folder_keeps_its_fingerprint(sd_copy: Path, tmp_path: Path) -> None:
    before = fingerprint_model(sd_copy)
    moved = sd_copy.rename(tmp_path / "elsewhere")
    assert fingerprint_model(moved) == before
