"""What a format reader hands the importer, and the bounded, typed reading of its values.

Every reader (`a1111`, `comfyui`, `invokeai`, `novelai`, ...) fills a `Parsed`: request fields
with where each came from, the model as the tool named it, what had no place in a request
(`unmapped`, in full), what a person should know (`notes`), and whether the generation needs an
architecture Atelier cannot run. This module imports no reader, so readers and the importer
share it without an import cycle.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from core.errors import BadInput

MAX_JSON_CHARS = 2_000_000
MAX_ENTRY_CHARS = 2_000
MAX_ENTRIES = 200

# Model names that say which architecture made the image, for those Atelier cannot run.
_FOREIGN_MODELS = (
    (re.compile(r"flux", re.I), "Flux"),
    (re.compile(r"sd3|sd_3|sd-3|stable[-_ ]?diffusion[-_ ]?3", re.I), "Stable Diffusion 3"),
    (re.compile(r"cascade|stage_?[abc]\b", re.I), "Stable Cascade"),
    (re.compile(r"aura_?flow", re.I), "AuraFlow"),
    (re.compile(r"hunyuan", re.I), "Hunyuan"),
    (re.compile(r"hidream", re.I), "HiDream"),
    (re.compile(r"pixart", re.I), "PixArt"),
    (re.compile(r"kolors", re.I), "Kolors"),
    (re.compile(r"lumina", re.I), "Lumina"),
    (re.compile(r"chroma", re.I), "Chroma"),
    (re.compile(r"qwen", re.I), "Qwen-Image"),
    (re.compile(r"omnigen", re.I), "OmniGen"),
    (re.compile(r"cosmos", re.I), "Cosmos"),
    (re.compile(r"\bwan2|wan_?2\.|ltx|mochi|svd|stable_?video", re.I), "a video model"),
    (re.compile(r"z_image|zimage", re.I), "Z-Image"),
)


@dataclass
class Parsed:
    """What a format reader found: request fields (no model), their sources, and the rest."""

    fields: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    model_name: str | None = None
    model_hash: str | None = None
    unmapped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    architecture: str | None = None  # set when Atelier cannot run what made the image
    prompt_lost: str | None = None  # where the source's prompt was, when it could not be read
    task: str = "text2img"

    def set(self, name: str, value: Any, source: str) -> None:
        """A request field and where it came from."""
        self.fields[name] = value
        self.sources[name] = source

    def set_model(self, name: str | None, source: str, model_hash: str | None = None) -> None:
        self.model_name = name or None
        if model_hash:
            self.model_hash = model_hash
        if name or model_hash:
            self.sources["model"] = source

    def foreign(self, architecture: str) -> None:
        """The image was made by an architecture Atelier cannot run (the first one found wins)."""
        if self.architecture is None:
            self.architecture = architecture

    def unmap(self, text: str) -> None:
        append_entry(self.unmapped, text)

    def note(self, text: str) -> None:
        append_entry(self.notes, text)


def foreign_architecture(model_name: str | None) -> str | None:
    """The architecture a model's name says it is, when Atelier cannot run it; else None."""
    if not model_name:
        return None
    for pattern, architecture in _FOREIGN_MODELS:
        if pattern.search(model_name):
            return architecture
    return None


def append_entry(entries: list[str], text: str) -> None:
    """Append, bounded: at most MAX_ENTRIES entries of at most MAX_ENTRY_CHARS each."""
    if len(entries) > MAX_ENTRIES:
        return
    if len(entries) == MAX_ENTRIES:
        entries.append("... (more left out)")
        return
    entries.append(text if len(text) <= MAX_ENTRY_CHARS else text[: MAX_ENTRY_CHARS - 3] + "...")


# ---- typed values --------------------------------------------------------------------------
def load_json(text: str, chunk: str, source: str) -> Any:
    """Any JSON value in a metadata text, size- and depth-bounded."""
    if len(text) > MAX_JSON_CHARS:
        raise BadInput(
            source,
            f"the {chunk!r} metadata is {len(text)} characters; expected <= {MAX_JSON_CHARS}",
        )
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise BadInput(source, f"the {chunk!r} metadata is not valid JSON ({exc})") from exc


def load_json_object(text: str, chunk: str, source: str) -> dict[str, Any]:
    """The JSON object in a metadata chunk, size- and depth-bounded."""
    data = load_json(text, chunk, source)
    if not isinstance(data, dict):
        kind = type(data).__name__
        raise BadInput(source, f"the {chunk!r} metadata is a JSON {kind}, expected an object")
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


def brief(value: Any) -> str:
    """A value as an unmapped entry shows it: text as is, anything else as compact JSON."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    except (TypeError, ValueError):
        return show(value)


__all__ = [
    "MAX_ENTRIES",
    "MAX_ENTRY_CHARS",
    "MAX_JSON_CHARS",
    "Parsed",
    "append_entry",
    "as_float",
    "as_int",
    "as_str",
    "brief",
    "foreign_architecture",
    "load_json",
    "load_json_object",
    "show",
]
