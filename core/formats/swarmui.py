"""SwarmUI: `{"sui_image_params": {...}, "sui_models": [...], "sui_extra_data": {...}}`.

The keys of `sui_image_params` are SwarmUI's parameter ids (`prompt`, `negativeprompt`, `seed`,
`steps`, `cfgscale`, `width`, `height`, `sampler`, `scheduler`, `model`, `clipstopatlayer`,
`initimagecreativity`, `refinermodel`, `refinercontrolpercentage`, `loras`, `loraweights`, ...);
samplers and schedulers carry ComfyUI's names. SwarmUI writes it to the PNG `parameters` chunk
or the EXIF UserComment of a JPEG or WebP.
"""

from __future__ import annotations

from typing import Any

from core.formats.comfyui_values import from_comfyui_sampler
from core.formats.parsed import Parsed, as_float, as_int, as_str, brief

_NUMBERS = (
    ("seed", "seed", 0, 2**64 - 1), ("steps", "steps", 1, 10_000),
    ("width", "width", 1, 65_536), ("height", "height", 1, 65_536),
)  # fmt: skip
_USED = {"prompt", "negativeprompt", "cfgscale", "sampler", "scheduler", "model", "swarm_version"}
_USED |= {key for key, *_ in _NUMBERS} | {"clipstopatlayer", "initimagecreativity"}


def parse_swarmui(data: dict[str, Any], source: str) -> Parsed:
    params = data.get("sui_image_params")
    params = params if isinstance(params, dict) else {}
    p = Parsed()
    where = "SwarmUI sui_image_params"
    for key, name in (("prompt", "prompt"), ("negativeprompt", "negative_prompt")):
        if params.get(key) is not None:
            p.set(name, as_str(params[key], f"{where} {key}", source), f"{where} {key}")
    for key, name, lo, hi in _NUMBERS:
        if params.get(key) is not None:
            p.set(
                name,
                as_int(params[key], f"{where} {key}", source, lo, hi, text=True),
                f"{where} {key}",
            )
    if params.get("cfgscale") is not None:
        cfg = as_float(params["cfgscale"], f"{where} cfgscale", source, 0, 100, text=True)
        p.set("cfg_scale", cfg, f"{where} cfgscale")
    if params.get("clipstopatlayer") is not None:
        layer = as_int(params["clipstopatlayer"], f"{where} clipstopatlayer", source, -100, -1)
        if layer < -1:
            p.set("clip_skip", -layer - 1, f"{where} clipstopatlayer")
    _sampler(params, p, source, where)
    _strength(params, p, source, where)
    model = params.get("model")
    if isinstance(model, str):
        p.set_model(model, f"{where} model", _model_hash(data.get("sui_models"), model))
    if isinstance(params.get("swarm_version"), str):
        p.note(f"written by SwarmUI {params['swarm_version'][:40]}")
    for key, value in params.items():
        if key not in _USED and value not in (None, "", [], {}):
            p.unmap(f"{key}: {brief(value)}")
    extra = data.get("sui_extra_data")
    if isinstance(extra, dict):
        for key, value in extra.items():
            p.note(f"{key}: {brief(value)}")
    return p


def _sampler(params: dict[str, Any], p: Parsed, source: str, where: str) -> None:
    if params.get("sampler") is None:
        return
    sampler = as_str(params["sampler"], f"{where} sampler", source, 200)
    schedule = params.get("scheduler")
    schedule = schedule if isinstance(schedule, str) else "normal"
    ours = from_comfyui_sampler(sampler, schedule)
    if ours is None:
        p.unmap(f"sampler: {sampler}, scheduler: {schedule} (no equivalent scheduler)")
    else:
        p.set("scheduler", ours, f"{where} sampler + scheduler")


def _strength(params: dict[str, Any], p: Parsed, source: str, where: str) -> None:
    if params.get("initimagecreativity") is None:
        return
    value = as_float(params["initimagecreativity"], f"{where} initimagecreativity", source, 0, 1)
    if value > 0:
        p.set("strength", value, f"{where} initimagecreativity")
    p.note("made from an init image; it is not in the file, so the task stays text2img")


def _model_hash(models: Any, name: str) -> str | None:
    if not isinstance(models, list):
        return None
    for entry in models[:50]:
        if isinstance(entry, dict) and entry.get("param") == "model":
            digest = entry.get("hash")
            return digest if isinstance(digest, str) and digest else None
    return None


__all__ = ["parse_swarmui"]
