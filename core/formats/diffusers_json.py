"""Diffusers-style JSON, as Hugging Face spaces write it to the PNG `parameters` chunk.

`{"prompt", "negative_prompt", "num_inference_steps", "guidance_scale", "seed", "resolution":
"1024 x 1024" (or "width"/"height"), "sampler": "DPM++ 2M Karras" (A1111's names), "Model",
"Model hash", ...}`: the pipeline's own argument names, with A1111's for the sampler and model.
"""

from __future__ import annotations

import re
from typing import Any

from core.formats.a1111 import from_a1111_sampler
from core.formats.parsed import Parsed, as_float, as_int, as_str, brief

_USED = {
    "prompt", "negative_prompt", "num_inference_steps", "guidance_scale", "seed", "resolution",
    "width", "height", "sampler", "Model", "Model hash",
}  # fmt: skip
_SIZE = re.compile(r"^\s*(\d{1,6})\s*[x×*,]\s*(\d{1,6})\s*$")


def is_diffusers_json(keys: set[str]) -> bool:
    return "prompt" in keys and bool(keys & {"num_inference_steps", "guidance_scale"})


def parse_diffusers_json(data: dict[str, Any], source: str) -> Parsed:
    p = Parsed()
    where = "diffusers JSON"
    for key, name in (("prompt", "prompt"), ("negative_prompt", "negative_prompt")):
        if data.get(key) is not None:
            p.set(name, as_str(data[key], f"{where} {key}", source), f"{where} {key}")
    for key, name, lo, hi in (
        ("num_inference_steps", "steps", 1, 10_000), ("seed", "seed", 0, 2**64 - 1),
        ("width", "width", 1, 65_536), ("height", "height", 1, 65_536),
    ):  # fmt: skip
        if data.get(key) is not None:
            label = f"{where} {key}"
            p.set(name, as_int(data[key], label, source, lo, hi, text=True), label)
    if data.get("guidance_scale") is not None:
        cfg = as_float(data["guidance_scale"], f"{where} guidance_scale", source, 0, 100, text=True)
        p.set("cfg_scale", cfg, f"{where} guidance_scale")
    size = _SIZE.match(str(data.get("resolution", "")))
    if size is not None:
        for name, text in zip(("width", "height"), size.groups(), strict=True):
            p.set(name, as_int(text, f"{where} resolution", source, 1, 65_536, text=True),
                  f"{where} resolution")  # fmt: skip
    if isinstance(data.get("sampler"), str):
        ours = from_a1111_sampler(data["sampler"])
        if ours is None:
            p.unmap(f"sampler: {data['sampler']} (no equivalent scheduler)")
        else:
            p.set("scheduler", ours, f"{where} sampler")
    model = data.get("Model")
    digest = data.get("Model hash")
    p.set_model(
        model if isinstance(model, str) else None,
        f"{where} Model",
        digest.lower() if isinstance(digest, str) else None,
    )
    for key, value in data.items():
        if key not in _USED and value not in (None, "", [], {}):
            p.unmap(f"{key}: {brief(value)}")
    return p


__all__ = ["is_diffusers_json", "parse_diffusers_json"]
