"""Helpers shared by the core tests (imported as `core_helpers`, as the desktop tests import
`desktop_helpers`)."""

from __future__ import annotations

from pathlib import Path

from PIL import Image


def task_inputs(inputs: dict[str, object], tmp_path: Path, init_png: Path, mask_png: Path) -> dict:
    """A case's input files as request fields: "init" (the 64x64 init image), "mask", and
    "small_init" (the init at 16x16, for the x4 upscaler); other keys pass through."""
    fields: dict[str, object] = {
        k: v for k, v in inputs.items() if k not in ("init", "mask", "small_init")
    }
    if inputs.get("init"):
        fields["init_image"] = str(init_png)
    if inputs.get("mask"):
        fields["mask"] = str(mask_png)
    if inputs.get("small_init"):
        small = tmp_path / "small.png"
        Image.open(init_png).resize((16, 16)).save(small)
        fields["init_image"] = str(small)
    return fields
