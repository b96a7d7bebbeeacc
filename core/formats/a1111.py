"""AUTOMATIC1111 "parameters" infotext: write it the way A1111 does, read it the way A1111 does.

The layout (A1111 `modules/processing.py: create_infotext`):

    a prompt, possibly on
    several lines
    Negative prompt: a negative prompt
    Steps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7.5, Seed: 42, Size: 512x768

Reading follows `modules/infotext_utils.py: parse_generation_parameters`, with two guards that
A1111 lacks: the text is capped at `MAX_INFOTEXT_CHARS`, and the `key: value` pattern is bounded
and possessive so that no input, however hostile, makes the regex backtrack for long.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

import core
from core.errors import BadInput
from core.formats.parsed import MAX_ENTRIES, Parsed, as_float, as_int
from core.formats.png import PARAMETERS_CHUNK, read_png_text
from core.request import GenerationRequest

MAX_INFOTEXT_CHARS = 1_000_000
DENOISING_TASKS = ("img2img", "inpaint", "depth")
DEFAULT_SCHEDULE_TYPES = ("", "automatic")

# Our stable scheduler name -> (A1111 sampler name, A1111 "Schedule type" or None for its default).
SAMPLER_NAMES: dict[str, tuple[str, str | None]] = {
    "ddim": ("DDIM", None),
    "euler": ("Euler", None),
    "euler_a": ("Euler a", None),
    "dpmpp_2m": ("DPM++ 2M", None),
    "dpmpp_2m_karras": ("DPM++ 2M", "Karras"),
    "unipc": ("UniPC", None),
    "lcm": ("LCM", None),
    "pndm": ("PLMS", None),
    "lms": ("LMS", None),
    "heun": ("Heun", None),
    "dpmpp_sde": ("DPM++ SDE", None),
    "dpm2": ("DPM2", None),
    "dpm2_a": ("DPM2 a", None),
}
_FROM_A1111 = {
    (sampler.lower(), schedule.lower() if schedule else None): name
    for name, (sampler, schedule) in SAMPLER_NAMES.items()
}

# A1111's re_param_code is r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)'. Its leading
# \s* and unbounded key make findall quadratic on long runs of spaces or letters (minutes for
# 200 kB). Here the key is at most 64 characters and the quantifiers are possessive; for keys of
# real infotexts the matches are the same.
_PARAM = re.compile(r'(\w[\w \-/]{0,63}+):\s*+("(?:\\.|[^\\"])++"|[^,]*+)(?:,|$)')
_IMAGE_SIZE = re.compile(r"^(\d+)x(\d+)$")


# ---- samplers ------------------------------------------------------------------------------


def to_a1111_sampler(name: str) -> tuple[str, str | None]:
    """(A1111 sampler name, schedule type or None) for one of our scheduler names."""
    try:
        return SAMPLER_NAMES[name]
    except KeyError:
        known = ", ".join(SAMPLER_NAMES)
        message = f"{name!r} has no A1111 name; expected one of {known}"
        raise BadInput("scheduler", message) from None


def from_a1111_sampler(sampler: str, schedule_type: str | None = None) -> str | None:
    """Our scheduler name for an A1111 sampler and schedule type; None when we have no match.

    Accepts the old single-field form ("DPM++ 2M Karras") as well as the newer pair
    ("DPM++ 2M" + Schedule type "Karras"). A schedule type of "Automatic" means the default.
    """
    base = sampler.strip().lower()
    schedule = (schedule_type or "").strip().lower()
    if schedule in DEFAULT_SCHEDULE_TYPES:
        schedule = ""
        if (base, None) not in _FROM_A1111 and base.endswith(" karras"):
            base, schedule = base.removesuffix(" karras"), "karras"
    return _FROM_A1111.get((base, schedule or None))


def a1111_clip_skip(clip_skip: int | None) -> int | None:
    """A1111's "Clip skip" for our `clip_skip`, or None when A1111 would not write one.

    Our `clip_skip` is diffusers' argument: the number of final CLIP layers skipped (1 = use the
    penultimate layer). A1111 counts the layer used from the end (1 = last, 2 = penultimate).
    """
    if clip_skip is None or clip_skip < 1:
        return None
    return clip_skip + 1


def clip_skip_from_a1111(value: int) -> int | None:
    """Our `clip_skip` for A1111's "Clip skip" value (1 or less: no skip, None)."""
    return value - 1 if value > 1 else None


# ---- writing -------------------------------------------------------------------------------


def to_infotext(
    request: GenerationRequest,
    seed: int,
    model_name: str,
    model_hash: str | None,
    lora_hashes: dict[str, str] | None = None,
    version: str = f"atelier {core.__version__}",
) -> str:
    """The A1111 infotext of one image made by `request` with `seed`.

    `model_hash` is the sha256 of the checkpoint (the first 10 hex characters are written, like
    A1111's short hash); `lora_hashes` maps a LoRA's name to its sha256 (12 characters written).
    """
    params: list[tuple[str, Any]] = [("Steps", request.steps)]
    if request.scheduler:
        sampler, schedule = SAMPLER_NAMES.get(request.scheduler, (request.scheduler, None))
        params += [("Sampler", sampler), ("Schedule type", schedule)]
    size = f"{request.width}x{request.height}" if request.width and request.height else None
    params += [
        ("CFG scale", request.cfg_scale),
        ("Seed", seed),
        ("Size", size),
        ("Model hash", model_hash[:10] if model_hash else None),
        ("Model", model_name or None),
        ("VAE", os.path.basename(request.vae.rstrip("/\\")) if request.vae else None),
        ("Denoising strength", request.strength if request.task in DENOISING_TASKS else None),
        ("Mask blur", request.mask_blur if request.task == "inpaint" else None),
        ("Clip skip", a1111_clip_skip(request.clip_skip)),
    ]
    if request.refiner:
        refiner = os.path.basename(request.refiner.rstrip("/\\"))
        params += [("Refiner", refiner), ("Refiner switch at", request.high_noise_frac)]
    if lora_hashes:
        text = ", ".join(f"{_lora_alias(k)}: {v[:12]}" for k, v in lora_hashes.items())
        params.append(("Lora hashes", text))
    params.append(("Version", version))
    line = ", ".join(f"{key}: {_quote(_text(value))}" for key, value in params if value is not None)
    negative = f"\nNegative prompt: {request.negative_prompt}" if request.negative_prompt else ""
    return f"{request.prompt}{negative}\n{line}".strip()


def _text(value: Any) -> str:
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _quote(text: str) -> str:
    """A1111's `quote()`: JSON-quote a value that would break the `key: value, ...` line."""
    if any(c in text for c in ',:"\n'):
        return json.dumps(text, ensure_ascii=False)
    return text


def _lora_alias(name: str) -> str:
    return name.replace(":", "").replace(",", "")


# ---- reading -------------------------------------------------------------------------------


def parse_infotext(text: str, source: str = PARAMETERS_CHUNK) -> dict[str, Any]:
    """The raw fields of an A1111 infotext, A1111's way.

    Returns {"Prompt": ..., "Negative prompt": ..., "Steps": "20", "Size-1": "512",
    "Size-2": "768", ...}: every value is a string, as written. `source` names the text in errors.
    """
    if not isinstance(text, str):
        raise BadInput(source, f"expected infotext as text, got {type(text).__name__}")
    if len(text) > MAX_INFOTEXT_CHARS:
        raise BadInput(
            source, f"infotext is {len(text)} characters; expected at most {MAX_INFOTEXT_CHARS}"
        )
    *lines, last = text.strip().split("\n")
    pairs: list[tuple[str, str]] = _PARAM.findall(last)
    if len(pairs) < 3:
        lines.append(last)
        pairs = []

    prompt: list[str] = []
    negative: list[str] = []
    done_with_prompt = False
    for raw in lines:
        line = raw.strip()
        if line.startswith("Negative prompt:"):
            done_with_prompt = True
            line = line[16:].strip()
        (negative if done_with_prompt else prompt).append(line)

    result: dict[str, Any] = {"Prompt": "\n".join(prompt), "Negative prompt": "\n".join(negative)}
    for key, value in pairs:
        value = _unquote(value)
        size = _IMAGE_SIZE.match(value)
        if size:
            result[f"{key}-1"] = size.group(1)
            result[f"{key}-2"] = size.group(2)
        else:
            result[key] = value
    return result


def _unquote(text: str) -> str:
    if len(text) < 2 or text[0] != '"' or text[-1] != '"':
        return text
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, str) else text


def looks_like_infotext(text: str) -> bool:
    """Is this text an A1111-style infotext? Its last line holds `Steps: ...` among at least
    three `key: value` pairs, or a line starts with `Negative prompt:`. A bare comment (a JPEG
    comment written by an image editor, a caption) is not."""
    if len(text) > MAX_INFOTEXT_CHARS:
        return True  # refused with a clear message by parse_infotext
    if "Steps:" not in text and "Negative prompt:" not in text:
        return False
    *lines, last = text.strip().split("\n")
    keys = {key for key, _ in _PARAM.findall(last)}
    if len(keys) >= 3 and "Steps" in keys:
        return True
    return any(line.lstrip().startswith("Negative prompt:") for line in [*lines, last])


_USED = (
    "Prompt", "Negative prompt", "Steps", "Sampler", "Schedule type", "CFG scale", "Seed",
    "Size-1", "Size-2", "Model hash", "Model", "Denoising strength", "Clip skip", "Version",
    "Refiner", "Refiner switch at",
)  # fmt: skip
_LORA_TAG = re.compile(r"<(lora|lyco|hypernet):([^:<>]{1,200})(?::([^<>]{0,40}))?>")


def parse_a1111(text: str, source: str) -> Parsed:
    """An A1111 infotext as request fields; every other key goes to unmapped by name."""
    from core.engine.schedulers import SCHEDULERS

    raw = parse_infotext(text, source=source)
    p = Parsed()
    p.set_model(raw.get("Model") or None, "A1111 infotext Model", raw.get("Model hash") or None)
    p.set("prompt", raw["Prompt"], "A1111 infotext (the lines before the settings)")
    p.set("negative_prompt", raw["Negative prompt"], "A1111 infotext Negative prompt")
    for key, name, lo, hi in (
        ("Steps", "steps", 1, 10_000), ("Seed", "seed", 0, 2**64 - 1),
        ("Size-1", "width", 1, 65_536), ("Size-2", "height", 1, 65_536),
    ):  # fmt: skip
        if key in raw:
            label = "A1111 infotext " + key.replace("-1", " (width)").replace("-2", " (height)")
            p.set(name, as_int(raw[key], key, source, lo, hi, text=True), label)
    if "CFG scale" in raw:
        cfg = as_float(raw["CFG scale"], "CFG scale", source, 0, 100, text=True)
        p.set("cfg_scale", cfg, "A1111 infotext CFG scale")
    if "Clip skip" in raw:
        skip = as_int(raw["Clip skip"], "Clip skip", source, 0, 1000, text=True)
        if clip_skip_from_a1111(skip) is not None:
            p.set("clip_skip", clip_skip_from_a1111(skip), "A1111 infotext Clip skip")
    sampler, schedule = raw.get("Sampler"), raw.get("Schedule type")
    if sampler:
        ours = from_a1111_sampler(sampler, schedule)
        if ours in SCHEDULERS:
            p.set("scheduler", ours, "A1111 infotext Sampler + Schedule type")
        else:
            p.unmap(f"Sampler: {sampler}" + (f", Schedule type: {schedule}" if schedule else ""))
    _strength(raw, p, source)
    _refiner(raw, p, source)
    if raw.get("Version"):
        p.note(f"written by {raw['Version']}")
    for key, value in raw.items():
        if key not in _USED:
            p.unmap(f"{key}: {value}")
    for kind, name, weight in _LORA_TAG.findall(raw["Prompt"])[:MAX_ENTRIES]:
        tag = f"<{kind}:{name}{':' + weight if weight else ''}>"
        p.unmap(f"prompt tag {tag}: its file is not known (the tag stays in the prompt)")
    return p


def _refiner(raw: dict[str, Any], p: Parsed, source: str) -> None:
    """A1111's SDXL refiner ("Refiner: name [hash]", "Refiner switch at: 0.8") as our handoff."""
    if not raw.get("Refiner"):
        return
    name = re.sub(r"\s*\[[0-9a-fA-F]{6,64}\]$", "", str(raw["Refiner"]))
    p.set("refiner", name, "A1111 infotext Refiner")
    if "Refiner switch at" in raw:
        switch = as_float(raw["Refiner switch at"], "Refiner switch at", source, 0, 1, text=True)
        if 0 < switch < 1:
            p.set("high_noise_frac", switch, "A1111 infotext Refiner switch at")
        else:
            p.unmap(f"Refiner switch at: {raw['Refiner switch at']} (expected between 0 and 1)")


def _strength(raw: dict[str, Any], p: Parsed, source: str) -> None:
    if "Denoising strength" not in raw:
        return
    if any(key.startswith("Hires") for key in raw):
        p.unmap(f"Denoising strength: {raw['Denoising strength']} (of the Hires fix pass)")
        return
    strength = as_float(raw["Denoising strength"], "Denoising strength", source, 0, 1, text=True)
    if strength > 0:
        p.set("strength", strength, "A1111 infotext Denoising strength")
    p.note(
        f"made as img2img or inpaint (Denoising strength {strength}); the init image is not in "
        "the file, so the task stays text2img"
    )


def read_infotext(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The parsed `parameters` chunk of a PNG, or None when it has none."""
    text = read_png_text(path).get(PARAMETERS_CHUNK)
    return None if text is None else parse_infotext(text, source=str(path))


__all__ = [
    "MAX_INFOTEXT_CHARS",
    "SAMPLER_NAMES",
    "a1111_clip_skip",
    "clip_skip_from_a1111",
    "from_a1111_sampler",
    "looks_like_infotext",
    "parse_a1111",
    "parse_infotext",
    "read_infotext",
    "to_a1111_sampler",
    "to_infotext",
]
