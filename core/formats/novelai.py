"""NovelAI: the prompt in `Description`, the settings as JSON in `Comment`.

A PNG has the text chunks `Title`, `Description` (the prompt), `Software` ("NovelAI"), `Source`
(the model, e.g. "Stable Diffusion XL C1E1DE52") and `Comment` (JSON: `steps`, `scale`, `seed`,
`sampler`, `uc` the negative prompt, `width`, `height`, `noise_schedule`, `strength`, `noise`,
...). A WebP holds the same object as JSON in its EXIF UserComment.
"""

from __future__ import annotations

from typing import Any

from core.formats.parsed import Parsed, as_float, as_int, as_str, brief, load_json_object

SAMPLERS = {
    "k_euler": "euler",
    "k_euler_ancestral": "euler_a",
    "k_heun": "heun",
    "k_dpm_2": "dpm2",
    "k_dpm_2_ancestral": "dpm2_a",
    "k_dpmpp_2m": "dpmpp_2m",
    "ddim": "ddim",
    "ddim_v3": "ddim",
}
_USED = ("prompt", "uc", "steps", "scale", "seed", "sampler", "width", "height", "noise_schedule")
_IMG2IMG_ONLY = ("strength", "noise")


def parse_novelai(data: dict[str, Any], source: str) -> Parsed:
    comment = data.get("Comment", {})
    if isinstance(comment, str):
        comment = load_json_object(comment, "NovelAI Comment", source)
    if not isinstance(comment, dict):
        comment = {}
    p = Parsed()
    prompt = comment.get("prompt", data.get("Description"))
    where = "NovelAI Comment prompt" if "prompt" in comment else "NovelAI Description"
    if prompt is not None:
        p.set("prompt", as_str(prompt, where, source), where)
    if comment.get("uc") is not None:
        p.set("negative_prompt", as_str(comment["uc"], "NovelAI uc", source), "NovelAI Comment uc")
    for key, name, lo, hi in (
        ("steps", "steps", 1, 10_000), ("seed", "seed", 0, 2**64 - 1),
        ("width", "width", 1, 65_536), ("height", "height", 1, 65_536),
    ):  # fmt: skip
        if comment.get(key) is not None:
            label = f"NovelAI Comment {key}"
            p.set(name, as_int(comment[key], label, source, lo, hi), label)
    if comment.get("scale") is not None:
        cfg = as_float(comment["scale"], "NovelAI scale", source, 0, 100)
        p.set("cfg_scale", cfg, "NovelAI Comment scale")
    _sampler(comment, p, source)
    if isinstance(data.get("Source"), str) and data["Source"]:
        p.set_model(as_str(data["Source"], "NovelAI Source", source, 1000), "NovelAI Source")
        p.note("NovelAI's own models are not published; choose a model of the same kind")
    for key, value in comment.items():
        if key in _USED or value in (None, "", [], {}):
            continue
        suffix = " (NovelAI uses it only for img2img)" if key in _IMG2IMG_ONLY else ""
        p.unmap(f"{key}: {brief(value)}{suffix}")
    return p


def _sampler(comment: dict[str, Any], p: Parsed, source: str) -> None:
    if comment.get("sampler") is None:
        return
    sampler = as_str(comment["sampler"], "NovelAI sampler", source, 200)
    schedule = comment.get("noise_schedule")
    ours = SAMPLERS.get(sampler)
    if ours == "dpmpp_2m" and schedule == "karras":
        ours = "dpmpp_2m_karras"
    elif schedule not in (None, "native") and ours is not None:
        ours = None
    if ours is None:
        p.unmap(f"sampler: {sampler}, noise_schedule: {schedule} (no equivalent scheduler)")
    else:
        p.set("scheduler", ours, "NovelAI Comment sampler")


__all__ = ["SAMPLERS", "parse_novelai"]
