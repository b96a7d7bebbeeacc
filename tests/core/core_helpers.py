"""Helpers shared by the core tests (imported as `core_helpers`, as the desktop tests import
`desktop_helpers`)."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

# Every task on the demo models: (task, model, inputs for `task_inputs`).
TASK_CASES: list[tuple[str, str, dict[str, object]]] = [
    ("text2img", "demo:sd", {}),
    ("img2img", "demo:sd", {"init": True}),
    ("inpaint", "demo:sd", {"init": True, "mask": True}),
    ("inpaint", "demo:sd-inpaint", {"init": True, "mask": True}),
    ("depth", "demo:sd-depth", {"init": True}),
    ("upscale", "demo:sd-upscale", {"small_init": True}),
    ("text2img", "demo:sdxl", {}),
    ("img2img", "demo:sdxl", {"init": True}),
]


def case_ids(cases: list[tuple[str, str, dict[str, object]]]) -> list[str]:
    return [f"{task}-{model}" for task, model, _ in cases]


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
