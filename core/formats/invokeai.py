"""InvokeAI's `invokeai_metadata` chunk: the fields of its `core_metadata` node, as a request.

The field names are those of InvokeAI's `CoreMetadataInvocation` (invokeai/app/invocations/
metadata.py): generation_mode, positive_prompt, negative_prompt, width, height, seed, cfg_scale,
steps, scheduler, clip_skip, model, loras, strength, init_image, vae, the hrf_* and refiner_*
fields, app_version. `model` is a ModelIdentifierField (`key`, `hash`, `name`, `base`, `type`)
in InvokeAI 4 and later, `{model_name, base_model, model_type}` in 3.x; a LoRA entry is
`{"model": ..., "weight": ...}` (4+) or `{"lora": ..., "weight": ...}` (3.x).
"""

from __future__ import annotations

from typing import Any

from core.errors import BadInput
from core.formats.parsed import Parsed, as_float, as_int, as_str, brief, load_json_object, show

# InvokeAI scheduler name -> ours. The rest (the *_k Karras forms we lack, deis, lms, dpmpp_2s,
# dpmpp_sde, dpmpp_2m_sde, dpmpp_3m, tcd...) go to unmapped.
SCHEDULERS = {
    "ddim": "ddim",
    "ddpm": "ddpm",
    "pndm": "pndm",
    "euler": "euler",
    "euler_a": "euler_a",
    "heun": "heun",
    "kdpm_2": "dpm2",
    "kdpm_2_a": "dpm2_a",
    "dpmpp_2m": "dpmpp_2m",
    "dpmpp_2m_k": "dpmpp_2m_karras",
    "unipc": "unipc",
    "lcm": "lcm",
}
_USED = (
    "positive_prompt", "negative_prompt", "seed", "steps", "cfg_scale", "scheduler", "width",
    "height", "clip_skip", "model", "loras", "strength", "generation_mode", "app_version",
)  # fmt: skip
_INIT_MODES = ("img2img", "inpaint", "outpaint")


_FOREIGN_BASES = {"flux": "Flux", "sd-3": "Stable Diffusion 3", "cogview4": "CogView4"}


def parse_invokeai_metadata(text: str, source: str) -> Parsed:
    return parse_invokeai_data(load_json_object(text, "invokeai_metadata", source), source)


def parse_invokeai_data(data: dict[str, Any], source: str) -> Parsed:
    p = Parsed()
    for key, field in (("positive_prompt", "prompt"), ("negative_prompt", "negative_prompt")):
        if data.get(key) is not None:
            p.set(field, as_str(data[key], f"InvokeAI {key}", source), f"InvokeAI {key}")
    for key, field, lo, hi in (
        ("seed", "seed", 0, 2**64 - 1), ("steps", "steps", 1, 10_000),
        ("width", "width", 1, 65_536), ("height", "height", 1, 65_536),
    ):  # fmt: skip
        if data.get(key) is not None:
            p.set(field, as_int(data[key], f"InvokeAI {key}", source, lo, hi), f"InvokeAI {key}")
    if data.get("cfg_scale") is not None:
        cfg = as_float(data["cfg_scale"], "InvokeAI cfg_scale", source, 0, 100)
        p.set("cfg_scale", cfg, "InvokeAI cfg_scale")
    if data.get("clip_skip") is not None:
        skip = as_int(data["clip_skip"], "InvokeAI clip_skip", source, 0, 1000)
        if skip:
            p.set("clip_skip", skip, "InvokeAI clip_skip")
    if data.get("scheduler") is not None:
        scheduler = as_str(data["scheduler"], "InvokeAI scheduler", source, 200)
        if scheduler in SCHEDULERS:
            p.set("scheduler", SCHEDULERS[scheduler], "InvokeAI scheduler")
        else:
            p.unmap(f"scheduler: {scheduler} (no equivalent scheduler)")
    _model(data.get("model"), p, source)
    _loras(data.get("loras"), p, source)
    _mode(data, p, source)
    _refiner(data, p, source)
    if isinstance(data.get("app_version"), str):
        p.note(f"written by InvokeAI {data['app_version'][:40]}")
    hires = data.get("hrf_enabled") is True
    for key, value in data.items():
        if key in ("refiner_model", "refiner_start") and "refiner" in p.fields:
            continue
        if key in _USED or value in (None, False, "", [], {}):
            continue
        if key.startswith("hrf_") and not hires:
            continue
        p.unmap(f"{key}: {brief(value)}")
    return p


def _identifier(value: Any, what: str, source: str) -> tuple[str | None, str | None]:
    """(name, hash) of a model identifier, in the 4.x or the 3.x form."""
    if not isinstance(value, dict):
        raise BadInput(source, f"InvokeAI {what} is {show(value)}; expected an object")
    name = value.get("name", value.get("model_name"))
    digest = value.get("hash")
    name = None if name is None else as_str(name, f"InvokeAI {what} name", source, 1000)
    digest = None if digest is None else as_str(digest, f"InvokeAI {what} hash", source, 200)
    return name or None, digest or None


def _model(value: Any, p: Parsed, source: str) -> None:
    if value is None:
        return
    name, digest = _identifier(value, "model", source)
    p.set_model(name, "InvokeAI model", digest)
    base = value.get("base", value.get("base_model"))
    if isinstance(base, str):
        p.note(f"InvokeAI model base: {base}")
        if base in _FOREIGN_BASES:
            p.foreign(_FOREIGN_BASES[base])


def _loras(value: Any, p: Parsed, source: str) -> None:
    if value is None:
        return
    if not isinstance(value, list):
        raise BadInput(source, f"InvokeAI loras is {show(value)}; expected a list")
    for entry in value[:200]:
        if not isinstance(entry, dict):
            raise BadInput(source, f"an InvokeAI loras entry is {show(entry)}; expected an object")
        name, _ = _identifier(entry.get("model", entry.get("lora")), "lora model", source)
        weight = as_float(entry.get("weight", 1.0), "InvokeAI lora weight", source, -100, 100)
        p.unmap(f"LoRA {name!r} weight {weight} (the LoRA file is not known)")


def _refiner(data: dict[str, Any], p: Parsed, source: str) -> None:
    """`refiner_model` + `refiner_start` (the fraction where the refiner takes over)."""
    if not isinstance(data.get("refiner_model"), dict) or data.get("refiner_start") is None:
        return
    name, _ = _identifier(data["refiner_model"], "refiner_model", source)
    start = as_float(data["refiner_start"], "InvokeAI refiner_start", source, 0, 1)
    if name and 0 < start < 1:
        p.set("refiner", name, "InvokeAI refiner_model")
        p.set("high_noise_frac", start, "InvokeAI refiner_start")


def _mode(data: dict[str, Any], p: Parsed, source: str) -> None:
    mode = data.get("generation_mode")
    mode = "" if mode is None else as_str(mode, "InvokeAI generation_mode", source, 100)
    strength = data.get("strength")
    if strength is not None:
        value = as_float(strength, "InvokeAI strength", source, 0, 1)
        if value > 0:
            p.set("strength", value, "InvokeAI strength")
    if any(kind in mode for kind in _INIT_MODES):
        p.note(
            f"made as {mode} in InvokeAI; the init image is not in the file, so the task stays "
            "text2img"
        )


__all__ = ["SCHEDULERS", "parse_invokeai_data", "parse_invokeai_metadata"]
