"""Weight files on disk: which suffixes are weights, and the safetensors header, read by hand.

A safetensors file is an 8-byte little-endian header length, a JSON header naming every tensor
(dtype, shape, byte offsets into the data that follows), then the data. Reading the header alone
tells a model's kind and whether the file is whole, without loading a single tensor.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from core.errors import ModelError

SAFE_SUFFIXES = (".safetensors",)
PICKLE_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin")
WEIGHT_SUFFIXES = SAFE_SUFFIXES + PICKLE_SUFFIXES

# A real header is a few MB at most (SDXL: ~250 kB); refuse absurd lengths before reading them.
_MAX_HEADER_BYTES = 100 * 1024 * 1024
_DTYPE_BYTES = {
    "BOOL": 1,
    "U8": 1,
    "I8": 1,
    "F8_E4M3": 1,
    "F8_E5M2": 1,
    "I16": 2,
    "U16": 2,
    "F16": 2,
    "BF16": 2,
    "I32": 4,
    "U32": 4,
    "F32": 4,
    "I64": 8,
    "U64": 8,
    "F64": 8,
}

TensorInfo = dict[str, Any]


def is_weight_file(path: Path) -> bool:
    return path.suffix.lower() in WEIGHT_SUFFIXES


def is_pickle_file(path: Path) -> bool:
    return path.suffix.lower() in PICKLE_SUFFIXES


def read_safetensors_header(path: Path) -> dict[str, TensorInfo]:
    """The tensors of a .safetensors file by name (dtype, shape, data_offsets), validated.

    Raises ModelError naming the file when it is corrupt or truncated: a header length that does
    not fit the file, a header that is not a JSON object, or a tensor whose bytes lie outside it.
    """
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            prefix = handle.read(8)
            if len(prefix) < 8:
                raise _corrupt(path, f"{size} bytes, shorter than the 8-byte header length")
            length = int.from_bytes(prefix, "little")
            if length == 0 or length > min(size - 8, _MAX_HEADER_BYTES):
                raise _corrupt(path, f"header length {length} does not fit a {size}-byte file")
            raw = handle.read(length)
    except OSError as exc:
        raise ModelError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _corrupt(path, f"header is not valid JSON: {exc}") from exc
    if not isinstance(header, dict):
        raise _corrupt(path, "header is not a JSON object")
    header.pop("__metadata__", None)
    _check_tensors(path, header, data_size=size - 8 - length)
    return header


def check_safetensors(path: Path) -> None:
    """Raise ModelError("<file>: corrupt or truncated safetensors (...)") unless it is whole."""
    read_safetensors_header(path)


def _check_tensors(path: Path, header: dict[str, Any], data_size: int) -> None:
    end_max = 0
    for name, info in header.items():
        if not isinstance(info, dict):
            raise _corrupt(path, f"tensor {name!r} has no description")
        dtype, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
        if dtype not in _DTYPE_BYTES:
            raise _corrupt(path, f"tensor {name!r} has unknown dtype {dtype!r}")
        if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
            raise _corrupt(path, f"tensor {name!r} has a bad shape {shape!r}")
        if (
            not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(isinstance(o, int) for o in offsets)
            or not 0 <= offsets[0] <= offsets[1]
        ):
            raise _corrupt(path, f"tensor {name!r} has bad data offsets {offsets!r}")
        begin, end = offsets
        if end > data_size:
            raise _corrupt(
                path, f"tensor {name!r} ends at byte {end} of a {data_size}-byte data section"
            )
        if end - begin != math.prod(shape) * _DTYPE_BYTES[dtype]:
            raise _corrupt(path, f"tensor {name!r}: {end - begin} bytes for shape {shape} {dtype}")
        end_max = max(end_max, end)
    if end_max != data_size:
        raise _corrupt(path, f"{data_size - end_max} bytes after the last tensor")


def _corrupt(path: Path, why: str) -> ModelError:
    return ModelError(f"{path}: corrupt or truncated safetensors ({why})")
