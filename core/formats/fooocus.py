"""Fooocus and RuinedFooocus: settings as one JSON object.

Fooocus (`modules/meta_parser.py`, scheme "fooocus") writes `prompt`, `negative_prompt`,
`steps`, `guidance_scale`, `seed` (as text), `resolution` ("(768, 1280)"), `sampler` and
`scheduler` (ComfyUI names), `base_model`, `base_model_hash`, `refiner_model`, `clip_skip`
(A1111's count), `loras`, `styles`, `full_prompt` (the prompt after styles and expansion) and
`version`. RuinedFooocus writes `Prompt`, `Negative`, `steps`, `cfg`, `width`, `height`, `seed`,
`sampler_name`, `scheduler`, `base_model_name`, `base_model_hash`, `clip_skip` and `software`.
"""

from __future__ import annotations

import re
from typing import Any

from core.formats.comfyui_values import from_comfyui_sampler
from core.formats.parsed import Parsed, as_float, as_int, as_str, brief

# request field -> (the keys that hold it, in either tool)
_TEXT: dict[str, tuple[str, ...]] = {
    "prompt": ("prompt", "Prompt"),
    "negative_prompt": ("negative_prompt", "Negative"),
}
_NUMBERS = {
    "steps": (("steps",), 1, 10_000),
    "seed": (("seed",), 0, 2**64 - 1),
    "width": (("width",), 1, 65_536),
    "height": (("height",), 1, 65_536),
}
_CFG = ("guidance_scale", "cfg")
_SAMPLER = ("sampler", "sampler_name")
_MODEL = ("base_model", "base_model_name")
_MODEL_HASH = ("base_model_hash",)
_USED = {"resolution", "scheduler", "clip_skip", "refiner_model", "refiner_switch", "version"}
_USED |= {k for keys in _TEXT.values() for k in keys} | set(_CFG + _SAMPLER + _MODEL + _MODEL_HASH)
_USED |= {k for keys, _, _ in _NUMBERS.values() for k in keys} | {"software", "metadata_scheme"}
_SIZE = re.compile(r"^\(?\s*(\d+)\s*[,x×*]\s*(\d+)\s*\)?$")


def parse_fooocus(data: dict[str, Any], source: str) -> Parsed:
    tool = str(data.get("software") or data.get("version") or "Fooocus")[:60]
    p = Parsed()
    for name, keys in _TEXT.items():
        for key in keys:
            if data.get(key) is not None:
                p.set(name, as_str(data[key], f"{tool} {key}", source), f"{tool} {key}")
                break
    for name, (keys, lo, hi) in _NUMBERS.items():
        for key in keys:
            if data.get(key) is not None:
                label = f"{tool} {key}"
                p.set(name, as_int(data[key], label, source, lo, hi, text=True), label)
    _resolution(data.get("resolution"), p, source, tool)
    for key in _CFG:
        if data.get(key) is not None:
            cfg = as_float(data[key], f"{tool} {key}", source, 0, 100, text=True)
            p.set("cfg_scale", cfg, f"{tool} {key}")
    _sampler(data, p, source, tool)
    if data.get("clip_skip") is not None:
        skip = as_int(data["clip_skip"], f"{tool} clip_skip", source, 0, 1000, text=True)
        if skip > 1:
            p.set("clip_skip", skip - 1, f"{tool} clip_skip")
    model = next((data[k] for k in _MODEL if isinstance(data.get(k), str)), None)
    digest = next((data[k] for k in _MODEL_HASH if isinstance(data.get(k), str)), None)
    p.set_model(model, f"{tool} base_model", digest)
    refiner = data.get("refiner_model")
    if isinstance(refiner, str) and refiner not in ("", "None"):
        p.unmap(f"refiner_model: {refiner}, refiner_switch: {data.get('refiner_switch')}")
    p.note(f"written by {tool}")
    if data.get("full_prompt"):
        p.note("Fooocus ran the prompt after its styles and expansion (see full_prompt)")
    for key, value in data.items():
        if key not in _USED and value not in (None, "", [], {}, "None"):
            p.unmap(f"{key}: {brief(value)}")
    return p


def _resolution(value: Any, p: Parsed, source: str, tool: str) -> None:
    if not isinstance(value, str):
        return
    match = _SIZE.match(value.strip())
    if match is None:
        p.unmap(f"resolution: {value}")
        return
    for name, text in zip(("width", "height"), match.groups(), strict=True):
        p.set(
            name,
            as_int(text, f"{tool} resolution", source, 1, 65_536, text=True),
            f"{tool} resolution",
        )


def _sampler(data: dict[str, Any], p: Parsed, source: str, tool: str) -> None:
    sampler = next((data[k] for k in _SAMPLER if data.get(k) is not None), None)
    if sampler is None:
        return
    sampler = as_str(sampler, f"{tool} sampler", source, 200)
    schedule = data.get("scheduler")
    schedule = "normal" if not isinstance(schedule, str) else schedule
    ours = from_comfyui_sampler(sampler, schedule)
    if ours is None:
        p.unmap(f"sampler: {sampler}, scheduler: {schedule} (no equivalent scheduler)")
    else:
        p.set("scheduler", ours, f"{tool} sampler + scheduler")


__all__ = ["parse_fooocus"]
