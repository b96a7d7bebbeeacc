"""Provenance pieces: pixel and file hashes, PSNR, the environment fingerprint and its diff."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import pytest
from PIL import Image

from core.errors import BadInput
from core.records import (
    environment_differences,
    environment_fingerprint,
    file_sha256,
    pixel_sha256,
    psnr,
)


def _gradient(width: int = 64, height: int = 48) -> Image.Image:
    image = Image.new("RGB", (width, height))
    image.putdata(
        [(x * 4 % 256, y * 5 % 256, (x + y) % 256) for y in range(height) for x in range(width)]
    )
    return image


def test_pixel_hash_ignores_png_compression(tmp_path: Path) -> None:
    image = _gradient()
    fast, small = tmp_path / "fast.png", tmp_path / "small.png"
    image.save(fast, compress_level=0)
    image.save(small, compress_level=9)
    assert fast.read_bytes() != small.read_bytes()
    with Image.open(fast) as a, Image.open(small) as b:
        assert pixel_sha256(a) == pixel_sha256(b) == pixel_sha256(image)


def test_pixel_hash_sees_mode_size_and_one_pixel() -> None:
    image = _gradient()
    changed = image.copy()
    changed.putpixel((3, 3), (0, 0, 1))
    assert pixel_sha256(changed) != pixel_sha256(image)
    assert pixel_sha256(image.convert("RGBA")) != pixel_sha256(image)
    # Same bytes, other shape: 64x48 vs 48x64 must not collide.
    assert pixel_sha256(Image.frombytes("RGB", (48, 64), image.tobytes())) != pixel_sha256(image)


def test_file_sha256_streams_the_bytes(tmp_path: Path) -> None:
    path = tmp_path / "weights.bin"
    data = bytes(range(256)) * 10_000  # 2.5 MB: more than one read
    path.write_bytes(data)
    assert file_sha256(path) == hashlib.sha256(data).hexdigest()
    with pytest.raises(BadInput, match=r"missing\.bin"):
        file_sha256(tmp_path / "missing.bin")


def test_psnr_inf_for_equal_finite_for_different() -> None:
    image = _gradient()
    assert psnr(image, image.copy()) == math.inf
    noisy = image.copy()
    noisy.putpixel((0, 0), (255, 255, 255))
    value = psnr(image, noisy)
    assert math.isfinite(value) and value > 30
    assert psnr(image, Image.new("RGB", image.size)) < psnr(image, noisy)


def test_psnr_refuses_different_sizes() -> None:
    with pytest.raises(BadInput, match="64x48 and 32x32"):
        psnr(_gradient(), Image.new("RGB", (32, 32)))


def test_fingerprint_is_json_and_records_threads() -> None:
    import torch

    fingerprint = environment_fingerprint("cpu", "float32")
    assert json.loads(json.dumps(fingerprint)) == fingerprint
    assert fingerprint["threads"] == torch.get_num_threads()
    assert fingerprint["device"] == "cpu" and fingerprint["dtype"] == "float32"
    assert fingerprint["libraries"]["torch"].split("+")[0] == torch.__version__.split("+")[0]
    assert fingerprint["libraries"]["pillow"]
    assert fingerprint["attention"] in ("sdpa", "eager")
    assert fingerprint["gpu"] is None and fingerprint["device_name"]
    assert set(fingerprint["deterministic"]) >= {
        "algorithms",
        "cudnn_deterministic",
        "cudnn_benchmark",
    }


def test_fingerprint_follows_thread_count() -> None:
    import torch

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        assert environment_fingerprint("cpu", "float32")["threads"] == 1
    finally:
        torch.set_num_threads(before)


def test_environment_differences_name_dotted_fields() -> None:
    recorded = environment_fingerprint("cpu", "float32")
    current = json.loads(json.dumps(recorded))
    assert environment_differences(recorded, current) == []
    current["dtype"] = "bfloat16"
    current["threads"] = (recorded["threads"] or 1) + 3
    current["libraries"]["diffusers"] = "0.0.1"
    del current["machine"]
    differences = {
        name: (old, new) for name, old, new in environment_differences(recorded, current)
    }
    assert differences == {
        "dtype": ("float32", "bfloat16"),
        "threads": (recorded["threads"], current["threads"]),
        "libraries.diffusers": (recorded["libraries"]["diffusers"], "0.0.1"),
        "machine": (recorded["machine"], None),
    }
