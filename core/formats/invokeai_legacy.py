"""InvokeAI 2.x: the `sd-metadata` JSON chunk and the older `Dream` command line.

`sd-metadata` (InvokeAI 2.0-2.3, `ldm/invoke/pngwriter.py`) is
`{"model_weights", "model_hash", "app_version", "image": {"prompt", "steps", "cfg_scale", "seed",
"width", "height", "sampler", "type", "strength", ...}}`, where `image.prompt` is a text or a
list of `{"prompt", "weight"}`. `Dream` is the `invoke>` command line that made the image:
`"a prompt [negative]" -s 50 -S 42 -W 512 -H 768 -C 7.5 -A k_lms -f 0.75 ...`. In both, text in
square brackets is InvokeAI 2's negative prompt.
"""

from __future__ import annotations

import re
from typing import Any

from core.errors import BadInput
from core.formats.parsed import Parsed, as_float, as_int, as_str, brief

# InvokeAI 2 sampler -> ours (k_lms, k_dpmpp_2, ... have no equivalent here).
SAMPLERS = {
    "ddim": "ddim",
    "plms": "pndm",
    "k_euler": "euler",
    "k_euler_a": "euler_a",
    "k_heun": "heun",
    "k_dpm_2": "dpm2",
    "k_dpm_2_a": "dpm2_a",
}
_NEGATIVE = re.compile(r"\[([^\[\]]*)\]")
_DREAM = re.compile(r'^\s*+"((?:[^"\\]++|\\.)*+)"(.*)$', re.S)
_DREAM_OPTION = re.compile(r"\s+--?([A-Za-z_]+)((?:\s+(?!-[A-Za-z])\S+){0,8})")
_DREAM_FIELDS = {"s": "steps", "S": "seed", "W": "width", "H": "height", "C": "cfg_scale"}
_IMAGE_USED = ("prompt", "steps", "cfg_scale", "seed", "width", "height", "sampler", "type")


def split_prompt(text: str) -> tuple[str, str]:
    """(prompt, negative) of an InvokeAI 2 prompt: `[...]` groups are the negative prompt."""
    negatives = [part.strip() for part in _NEGATIVE.findall(text) if part.strip()]
    prompt = re.sub(r"\s{2,}", " ", _NEGATIVE.sub(" ", text)).strip()
    return prompt, ", ".join(negatives)


def parse_sd_metadata(data: dict[str, Any], source: str) -> Parsed:
    image = data.get("image")
    if not isinstance(image, dict):
        raise BadInput(source, "InvokeAI sd-metadata has no 'image' object")
    p = Parsed()
    where = "InvokeAI 2 sd-metadata"
    prompt = image.get("prompt")
    if isinstance(prompt, list):
        parts = [e.get("prompt") for e in prompt[:50] if isinstance(e, dict)]
        prompt = " ".join(as_str(t, f"{where} prompt", source) for t in parts if t is not None)
        if len(parts) > 1:
            p.note("the InvokeAI prompt had weighted parts; they are joined into one prompt")
    if prompt is not None:
        positive, negative = split_prompt(as_str(prompt, f"{where} prompt", source))
        p.set("prompt", positive, f"{where} image.prompt")
        p.set("negative_prompt", negative, f"{where} image.prompt [bracketed parts]")
    _numbers(image, p, source, where, "image.")
    _sampler(image.get("sampler"), p, source, f"{where} image.sampler")
    kind = image.get("type")
    if isinstance(kind, str) and kind != "txt2img":
        _init(image.get("strength"), kind, p, source, f"{where} image.strength")
    p.set_model(
        _text(data.get("model_weights")), f"{where} model_weights", _text(data.get("model_hash"))
    )
    if isinstance(data.get("app_version"), str):
        p.note(f"written by InvokeAI {data['app_version'][:40]}")
    for key, value in image.items():
        if key not in _IMAGE_USED and key != "strength" and value not in (None, False, 0, [], ""):
            p.unmap(f"{key}: {brief(value)}")
    return p


def parse_dream(text: str, source: str) -> Parsed:
    match = _DREAM.match(text)
    if match is None:
        raise BadInput(source, 'the InvokeAI Dream text is not "a prompt" followed by options')
    prompt_text, rest = match.groups()
    p = Parsed()
    positive, negative = split_prompt(prompt_text.replace('\\"', '"'))
    p.set("prompt", positive, "InvokeAI Dream prompt")
    p.set("negative_prompt", negative, "InvokeAI Dream prompt [bracketed parts]")
    options: dict[str, Any] = {}
    end = 0
    for option in _DREAM_OPTION.finditer(rest):
        options[option.group(1)] = option.group(2).strip() or True
        end = option.end()
    if rest[end:].strip():
        p.unmap(f"Dream options: {rest[end:].strip()}")
    named = {_DREAM_FIELDS.get(k, k): v for k, v in options.items()}
    _numbers(named, p, source, "InvokeAI Dream", "-", text=True)
    _sampler(named.get("A"), p, source, "InvokeAI Dream -A")
    if "I" in named:
        _init(named.get("f", 0.75), "img2img", p, source, "InvokeAI Dream -f")
    for key, value in named.items():
        if key not in ("steps", "seed", "width", "height", "cfg_scale", "A", "f", "I"):
            p.unmap(f"-{key} {value}")
    if "I" in named:
        p.unmap(f"-I {named['I']} (the init image)")
    return p


def _numbers(
    values: dict[str, Any], p: Parsed, source: str, where: str, prefix: str, text: bool = False
) -> None:
    flags = {"steps": "s", "seed": "S", "width": "W", "height": "H", "cfg_scale": "C"}
    for name, lo, hi in (
        ("steps", 1, 10_000), ("seed", 0, 2**64 - 1), ("width", 1, 65_536), ("height", 1, 65_536),
    ):  # fmt: skip
        if values.get(name) is not None:
            key = flags[name] if prefix == "-" else name
            label = f"{where} {prefix}{key}"
            p.set(name, as_int(values[name], label, source, lo, hi, text=text), label)
    if values.get("cfg_scale") is not None:
        label = f"{where} {prefix}{'C' if prefix == '-' else 'cfg_scale'}"
        p.set("cfg_scale", as_float(values["cfg_scale"], label, source, 0, 100, text=text), label)


def _sampler(value: Any, p: Parsed, source: str, where: str) -> None:
    if value is None:
        return
    name = as_str(value, where, source, 200)
    if name in SAMPLERS:
        p.set("scheduler", SAMPLERS[name], where)
    else:
        p.unmap(f"sampler: {name} (no equivalent scheduler)")


def _init(strength: Any, kind: str, p: Parsed, source: str, where: str) -> None:
    if strength is not None:
        value = as_float(strength, where, source, 0, 1, text=True)
        if value > 0:
            p.set("strength", value, where)
    p.note(f"made as {kind}; the init image is not in the file, so the task stays text2img")


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


__all__ = ["SAMPLERS", "parse_dream", "parse_sd_metadata", "split_prompt"]
