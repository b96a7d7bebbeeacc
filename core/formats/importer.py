"""Import: an image made by Atelier, AUTOMATIC1111, ComfyUI or InvokeAI becomes a request.

`import_image` reads the metadata of a PNG (text chunks) or a JPEG/WebP (EXIF UserComment) and
picks one source, in this order: our own `atelier` record (the request exactly as recorded),
InvokeAI's `invokeai_metadata`, ComfyUI's `prompt` graph, then A1111's `parameters` infotext
(written by many tools, ours included). What has no place in a request is listed in `unmapped`;
what a person should know (a model not in the library, an init image not in the file) in `notes`.

Every way a file can be wrong ends in `BadInput` naming the file and what was expected. All work
is bounded: chunk sizes, JSON depth, graph size, the length of each unmapped entry.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from core.errors import BadInput
from core.request import GenerationRequest

if TYPE_CHECKING:
    from core.library import Library
    from core.library.entities import ModelVariant

FORMATS = ("atelier", "a1111", "comfyui", "invokeai")
MAX_JSON_CHARS = 2_000_000
MAX_ENTRY_CHARS = 300
MAX_ENTRIES = 200
_PNG = b"\x89PNG\r\n\x1a\n"
_HEX = re.compile(r"[0-9a-f]{8,64}")


@dataclass(frozen=True)
class ImportedRequest:
    """A request read from an image, with what could not be mapped and what to know."""

    source_path: str
    format: str
    request: GenerationRequest
    unmapped: list[str]
    notes: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.source_path,
            "format": self.format,
            "request": self.request.to_dict(),
            "unmapped": list(self.unmapped),
            "notes": list(self.notes),
        }


@dataclass
class Parsed:
    """What a format reader found: request fields (no task/model), the model as named, extras."""

    fields: dict[str, Any] = field(default_factory=dict)
    model_name: str | None = None
    model_hash: str | None = None
    unmapped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def unmap(self, text: str) -> None:
        _append(self.unmapped, text)

    def note(self, text: str) -> None:
        _append(self.notes, text)


def _append(entries: list[str], text: str) -> None:
    if len(entries) > MAX_ENTRIES:
        return
    if len(entries) == MAX_ENTRIES:
        entries.append("... (more left out)")
        return
    entries.append(text if len(text) <= MAX_ENTRY_CHARS else text[: MAX_ENTRY_CHARS - 3] + "...")


# ---- import --------------------------------------------------------------------------------
def import_image(path: str | os.PathLike[str], library: Library | None = None) -> ImportedRequest:
    """The request recorded in the image at `path`; `library` matches models by hash or name."""
    source = str(path)
    try:
        return _import(source, path, library)
    except BadInput as exc:
        if exc.field == source:
            raise
        raise BadInput(source, str(exc)) from exc
    except (KeyError, TypeError, ValueError, RecursionError) as exc:  # a safety net, not a path
        raise BadInput(source, f"has metadata that could not be read ({exc!r})") from exc


def _import(source: str, path: str | os.PathLike[str], library: Library | None) -> ImportedRequest:
    from core.formats import comfyui, invokeai

    chunks = _read_metadata(path)
    if "atelier" in chunks:
        return _from_atelier(chunks["atelier"], source)
    readers = (
        ("invokeai_metadata", "invokeai", invokeai.parse_invokeai_metadata),
        ("prompt", "comfyui", comfyui.parse_comfyui_prompt),
        ("parameters", "a1111", parse_a1111),
    )
    for chunk, fmt, reader in readers:
        if chunk in chunks:
            parsed = reader(chunks[chunk], source)
            return _build(source, fmt, parsed, library)
    raise BadInput(
        source,
        "has no generation metadata (expected an 'atelier', 'invokeai_metadata', 'prompt' or "
        "'parameters' PNG chunk, or an A1111 EXIF UserComment)",
    )


def _read_metadata(path: str | os.PathLike[str]) -> dict[str, str]:
    from core.formats.exif import read_exif_comment, sniff_format
    from core.formats.png import read_png_text

    kind = sniff_format(path)
    if kind == "png":
        return read_png_text(path)
    comment = read_exif_comment(path, kind)
    return {} if comment is None else {"parameters": comment}


def _from_atelier(text: str, source: str) -> ImportedRequest:
    record = load_json_object(text, "atelier", source)
    data = record.get("request")
    if not isinstance(data, dict):
        raise BadInput(source, "the 'atelier' chunk has no 'request' object")
    request = GenerationRequest.from_dict(data)
    notes: list[str] = []
    image = record.get("image")
    if isinstance(image, dict) and image.get("seed") not in (None, request.seed):
        _append(
            notes,
            f"this image is #{image.get('index')} of a batch; its own seed is {image['seed']} "
            "(the request keeps the batch's first seed)",
        )
    return ImportedRequest(source, "atelier", request, [], notes)


def _build(source: str, fmt: str, parsed: Parsed, library: Library | None) -> ImportedRequest:
    model = _resolve_model(parsed, library)
    request = GenerationRequest(task="text2img", model=model, **parsed.fields)
    try:
        request.validate()
    except BadInput as exc:
        parsed.note(f"the request needs editing before it can run: {exc}")
    return ImportedRequest(source, fmt, request, parsed.unmapped, parsed.notes)


# ---- models --------------------------------------------------------------------------------
def _resolve_model(parsed: Parsed, library: Library | None) -> str:
    """The library variant's name, else the model as the tool named it, else "unknown"."""
    if library is not None:
        variant, how = _find_variant(library.models.list(), parsed.model_name, parsed.model_hash)
        if variant is not None:
            parsed.note(f"model matched the library variant {variant.name!r} by {how}")
            return variant.name
    named = parsed.model_name or parsed.model_hash
    if not named:
        parsed.note("the file names no model; model set to 'unknown'")
        return "unknown"
    where = "" if library is not None else " (no library given)"
    parsed.note(f"model not in library{where}: {named!r} as the source tool named it")
    return named


def _find_variant(
    variants: list[ModelVariant], name: str | None, model_hash: str | None
) -> tuple[ModelVariant | None, str]:
    digest = (model_hash or "").strip().lower().removeprefix("sha256:")
    if _HEX.fullmatch(digest):
        for variant in variants:
            if (variant.fingerprint or "").lower().startswith(digest):
                return variant, f"hash {digest}"
    if name:
        base = _basename(name)
        stem = base.rsplit(".", 1)[0]
        for variant in variants:
            if variant.name in (name, base, stem) or _basename(variant.location) == base:
                return variant, f"name {name!r}"
    return None, ""


def _basename(path: str) -> str:
    return re.split(r"[/\\]", path.strip().rstrip("/\\"))[-1]


# ---- AUTOMATIC1111 -------------------------------------------------------------------------
_A1111_USED = (
    "Prompt", "Negative prompt", "Steps", "Sampler", "Schedule type", "CFG scale", "Seed",
    "Size-1", "Size-2", "Model hash", "Model", "Denoising strength", "Clip skip", "Version",
)  # fmt: skip
_LORA_TAG = re.compile(r"<(lora|lyco|hypernet):([^:<>]{1,200})(?::([^<>]{0,40}))?>")


def parse_a1111(text: str, source: str) -> Parsed:
    """An A1111 infotext as request fields; every other key goes to unmapped by name."""
    from core.engine.schedulers import SCHEDULERS
    from core.formats.a1111 import clip_skip_from_a1111, from_a1111_sampler, parse_infotext

    raw = parse_infotext(text, source=source)
    p = Parsed(model_name=raw.get("Model") or None, model_hash=raw.get("Model hash") or None)
    p.fields["prompt"] = raw["Prompt"]
    p.fields["negative_prompt"] = raw["Negative prompt"]
    for key, name, lo, hi in (
        ("Steps", "steps", 1, 10_000), ("Seed", "seed", 0, 2**64 - 1),
        ("Size-1", "width", 1, 65_536), ("Size-2", "height", 1, 65_536),
    ):  # fmt: skip
        if key in raw:
            p.fields[name] = as_int(raw[key], key, source, lo, hi, text=True)
    if "CFG scale" in raw:
        p.fields["cfg_scale"] = as_float(raw["CFG scale"], "CFG scale", source, 0, 100, text=True)
    if "Clip skip" in raw:
        skip = as_int(raw["Clip skip"], "Clip skip", source, 0, 1000, text=True)
        p.fields["clip_skip"] = clip_skip_from_a1111(skip)
    sampler, schedule = raw.get("Sampler"), raw.get("Schedule type")
    if sampler:
        ours = from_a1111_sampler(sampler, schedule)
        if ours in SCHEDULERS:
            p.fields["scheduler"] = ours
        else:
            p.unmap(f"Sampler: {sampler}" + (f", Schedule type: {schedule}" if schedule else ""))
    _a1111_strength(raw, p, source)
    if raw.get("Version"):
        p.note(f"written by {raw['Version']}")
    for key, value in raw.items():
        if key not in _A1111_USED:
            p.unmap(f"{key}: {value}")
    for kind, name, weight in _LORA_TAG.findall(raw["Prompt"])[:MAX_ENTRIES]:
        tag = f"<{kind}:{name}{':' + weight if weight else ''}>"
        p.unmap(f"prompt tag {tag}: its file is not known (the tag stays in the prompt)")
    return p


def _a1111_strength(raw: dict[str, Any], p: Parsed, source: str) -> None:
    if "Denoising strength" not in raw:
        return
    if any(key.startswith("Hires") for key in raw):
        p.unmap(f"Denoising strength: {raw['Denoising strength']} (of the Hires fix pass)")
        return
    strength = as_float(raw["Denoising strength"], "Denoising strength", source, 0, 1, text=True)
    if strength > 0:
        p.fields["strength"] = strength
    p.note(
        f"made as img2img or inpaint (Denoising strength {strength}); the init image is not in "
        "the file, so the task stays text2img"
    )


# ---- typed values --------------------------------------------------------------------------
def load_json_object(text: str, chunk: str, source: str) -> dict[str, Any]:
    """The JSON object in a metadata chunk, size- and depth-bounded."""
    if len(text) > MAX_JSON_CHARS:
        raise BadInput(
            source, f"the {chunk!r} chunk is {len(text)} characters; expected <= {MAX_JSON_CHARS}"
        )
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise BadInput(source, f"the {chunk!r} chunk is not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        kind = type(data).__name__
        raise BadInput(source, f"the {chunk!r} chunk is a JSON {kind}, expected an object")
    return data


def as_int(value: Any, what: str, source: str, lo: int, hi: int, *, text: bool = False) -> int:
    """An integer in lo..hi: a JSON number, or (with `text`) its decimal digits."""
    number: Any = value
    if text and isinstance(value, str) and re.fullmatch(r"\s*[-+]?\d{1,30}\s*", value):
        number = int(value)
    if isinstance(number, float) and number.is_integer():
        number = int(number)
    if isinstance(number, bool) or not isinstance(number, int):
        raise BadInput(source, f"{what} is {show(value)}; expected an integer")
    if not lo <= number <= hi:
        raise BadInput(source, f"{what} is {number}; expected {lo}..{hi}")
    return number


def as_float(
    value: Any, what: str, source: str, lo: float, hi: float, *, text: bool = False
) -> float:
    """A finite number in lo..hi: a JSON number, or (with `text`) its decimal form."""
    number: Any = value
    if text and isinstance(value, str) and len(value) <= 64:
        try:
            number = float(value)
        except ValueError:
            number = value
    if isinstance(number, bool) or not isinstance(number, (int, float)):
        raise BadInput(source, f"{what} is {show(value)}; expected a number")
    if not math.isfinite(number) or not lo <= number <= hi:
        raise BadInput(source, f"{what} is {number}; expected {lo}..{hi}")
    return float(number)


def as_str(value: Any, what: str, source: str, limit: int = 1_000_000) -> str:
    if not isinstance(value, str):
        raise BadInput(source, f"{what} is {show(value)}; expected text")
    if len(value) > limit:
        raise BadInput(source, f"{what} is {len(value)} characters; expected <= {limit}")
    return value


def show(value: Any) -> str:
    """A short repr for messages: never the whole of a hostile value."""
    text = repr(value) if isinstance(value, (str, int, float, bool)) else type(value).__name__
    return text if len(text) <= 60 else text[:57] + "..."


__all__ = ["FORMATS", "ImportedRequest", "Parsed", "import_image", "parse_a1111"]
