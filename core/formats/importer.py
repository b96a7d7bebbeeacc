"""Import: an image made by Atelier or another tool becomes a request.

`import_image` gathers every metadata text of a PNG, JPEG or WebP, recognises each by its
content (`detect`), and reads the richest format found: our own `atelier` record (the request
exactly as recorded), a ComfyUI graph, InvokeAI 3+ or 2.x, SwarmUI, Fooocus, NovelAI, diffusers
JSON, an A1111 infotext, a ComfyUI UI workflow; of several, the one that reads the most request
fields. The result says which format was used and which others were
found, where each request field came from (`field_sources`), everything that has no place in a
request, in full (`unmapped`), and whether Atelier can run it at all (`runnable`): a generation
by an architecture Atelier cannot run, or whose prompt could not be read, is imported for
reference only.

Every way a file can be wrong ends in `BadInput` naming the file and what was expected. All work
is bounded: chunk sizes, JSON depth, graph size, the number and length of unmapped entries.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from core.errors import BadInput
from core.formats.a1111 import parse_a1111
from core.formats.parsed import (
    Parsed,
    append_entry,
    foreign_architecture,
    load_json_object,
)
from core.request import GenerationRequest

if TYPE_CHECKING:
    from core.formats.detect import Found
    from core.library import Library
    from core.library.entities import ModelVariant

FORMATS = (
    "atelier", "a1111", "comfyui", "comfyui-workflow", "invokeai", "invokeai-2",
    "invokeai-dream", "novelai", "fooocus", "swarmui", "diffusers",
)  # fmt: skip
REFERENCE_ONLY = "imported for reference, cannot be run"
MAX_FORMATS = 12  # at most this many texts of a file are read as formats
_HEX = re.compile(r"[0-9a-f]{8,64}")


@dataclass(frozen=True)
class ImportedRequest:
    """A request read from an image, with where each field came from and what was left out.

    `format` is the format used; `formats_found` every format the file holds, richest first.
    `field_sources` maps a request field (and "model") to where its value was read.
    `unmapped` lists, in full, each setting that has no place in the request; `notes` what a
    person should know. `runnable` is False when the image is imported for reference only;
    `not_runnable_reason` then says why (an architecture Atelier cannot run, a lost prompt).
    """

    source_path: str
    format: str
    request: GenerationRequest
    unmapped: list[str]
    notes: list[str]
    field_sources: dict[str, str] = field(default_factory=dict)
    formats_found: list[str] = field(default_factory=list)
    runnable: bool = True
    not_runnable_reason: str = ""
    architecture: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.source_path,
            "format": self.format,
            "formats_found": list(self.formats_found),
            "request": self.request.to_dict(),
            "field_sources": dict(self.field_sources),
            "unmapped": list(self.unmapped),
            "notes": list(self.notes),
            "runnable": self.runnable,
            "not_runnable_reason": self.not_runnable_reason,
            "architecture": self.architecture,
        }


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
    from core.formats.detect import detect, read_texts

    _, texts = read_texts(path)
    found, unknown = detect(texts)
    if not found:
        where = f" ({', '.join(unknown)} match no known format)" if unknown else ""
        raise BadInput(
            source,
            f"has no generation metadata{where}; expected Atelier, ComfyUI, InvokeAI, A1111, "
            "NovelAI, Fooocus or SwarmUI metadata in PNG text chunks or JPEG/WebP EXIF",
        )
    names = list(dict.fromkeys(item.format for item in found if item.format != "broken"))
    if found[0].format == "atelier":
        return _from_atelier(found[0], source, names)
    errors: list[tuple[Found, BadInput]] = []
    read: list[tuple[Found, Parsed]] = []
    for item in found[:MAX_FORMATS]:
        try:
            read.append((item, _reader(item.format)(item.content, source)))
        except BadInput as exc:
            errors.append((item, exc))
    if read:  # the richest: the most request fields read; on a tie, the earlier in RANK
        best = max(range(len(read)), key=lambda i: (_richness(read[i][1]), -i))
        item, parsed = read[best]
        imported = _build(source, item, parsed, library, names)
        for failed, error in errors:
            imported.notes.insert(
                0, f"{failed.format} in {failed.where} could not be read: {error.message}"
            )
        return imported
    if len(errors) == 1:
        raise errors[0][1]
    raise BadInput(source, "; ".join(f"{f.format} in {f.where}: {e.message}" for f, e in errors))


def _richness(parsed: Parsed) -> int:
    """How much of a request a reading holds: its fields with a value, and a named model."""
    filled = [v for k, v in parsed.fields.items() if v not in (None, "") and k != "batch_size"]
    return len(filled) + (1 if parsed.model_name or parsed.model_hash else 0)


def _reader(fmt: str) -> Callable[[Any, str], Parsed]:
    from core.formats import (
        comfyui,
        diffusers_json,
        fooocus,
        invokeai,
        invokeai_legacy,
        novelai,
        swarmui,
    )
    from core.formats.comfyui_workflow import workflow_to_graph

    def workflow(data: Any, source: str) -> Parsed:
        parsed = comfyui.parse_comfyui_graph(workflow_to_graph(data, source), source)
        parsed.note("read from ComfyUI's UI workflow (the file has no API graph)")
        return parsed

    def broken(message: Any, source: str) -> Parsed:
        raise BadInput(source, str(message))

    readers: dict[str, Callable[[Any, str], Parsed]] = {
        "broken": broken,
        "comfyui": comfyui.parse_comfyui_graph,
        "comfyui-workflow": workflow,
        "invokeai": invokeai.parse_invokeai_data,
        "invokeai-2": invokeai_legacy.parse_sd_metadata,
        "invokeai-dream": invokeai_legacy.parse_dream,
        "novelai": novelai.parse_novelai,
        "fooocus": fooocus.parse_fooocus,
        "swarmui": swarmui.parse_swarmui,
        "diffusers": diffusers_json.parse_diffusers_json,
        "a1111": parse_a1111,
    }
    return readers[fmt]


def _from_atelier(found: Found, source: str, names: list[str]) -> ImportedRequest:
    record = found.content
    if isinstance(record, str):
        record = load_json_object(record, "atelier", source)
    data = record.get("request")
    if not isinstance(data, dict):
        raise BadInput(source, "the 'atelier' chunk has no 'request' object")
    request = GenerationRequest.from_dict(data)
    notes: list[str] = []
    image = record.get("image")
    if isinstance(image, dict) and image.get("seed") not in (None, request.seed):
        append_entry(
            notes,
            f"this image is #{image.get('index')} of a batch; its own seed is {image['seed']} "
            "(the request keeps the batch's first seed)",
        )
    sources = {name: f"Atelier record request.{name}" for name in data}
    return ImportedRequest(source, "atelier", request, [], notes, sources, names)


def _build(
    source: str, item: Found, parsed: Parsed, library: Library | None, names: list[str]
) -> ImportedRequest:
    if len(names) > 1:
        others = ", ".join(n for n in names if n != item.format)
        parsed.note(f"read as {item.format} from {item.where}; the file also holds {others}")
    else:
        parsed.note(f"read as {item.format} from {item.where}")
    model = _resolve_model(parsed, library)
    if "refiner" in parsed.fields and library is not None:
        refiner, _ = _find_variant(library.models.list(), parsed.fields["refiner"], None)
        if refiner is not None:
            parsed.fields["refiner"] = refiner.name
    request = GenerationRequest(task=parsed.task, model=model, **parsed.fields)
    try:
        request.validate()
    except BadInput as exc:
        parsed.note(f"the request needs editing before it can run: {exc}")
    architecture = foreign_architecture(parsed.model_name) or parsed.architecture
    reasons = []
    if architecture:
        reasons.append(f"it was made with {architecture}, which Atelier cannot run")
    if parsed.prompt_lost and not request.prompt:
        reasons.append(f"its prompt could not be read ({parsed.prompt_lost})")
    reason = f"{REFERENCE_ONLY}: {'; '.join(reasons)}" if reasons else ""
    return ImportedRequest(
        source, item.format, request, parsed.unmapped, parsed.notes,
        dict(parsed.sources), names, not reasons, reason, architecture,
    )  # fmt: skip


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


__all__ = ["FORMATS", "REFERENCE_ONLY", "ImportedRequest", "Parsed", "import_image", "parse_a1111"]
