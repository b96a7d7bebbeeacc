"""Which generation formats a file holds, told by content rather than by where they sit.

Every text a tool may have written is gathered: PNG text chunks; the EXIF UserComment,
ImageDescription, Make and Model of a JPEG or WebP; a JPEG comment. Each is recognised by what
it holds: JSON is parsed and matched to a format by its keys (ComfyUI's API graph or UI
workflow, InvokeAI 3+ and 2.x, NovelAI, Fooocus, SwarmUI, a Hugging Face space's diffusers
arguments); a text must look like an A1111
infotext or an InvokeAI `Dream` command line to be read as one. ComfyUI's EXIF form
(`prompt:{...}`, `workflow:{...}`) is understood. Texts that match nothing are reported by
where they were, never read as a prompt.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from typing import Any

from core.formats.comfyui_values import is_api_graph
from core.formats.comfyui_workflow import is_ui_workflow
from core.formats.diffusers_json import is_diffusers_json
from core.formats.parsed import MAX_JSON_CHARS

# Formats from richest to poorest: when a file holds several, the richest one that reads is used.
RANK = (
    "atelier", "comfyui", "invokeai", "swarmui", "invokeai-2", "fooocus", "novelai",
    "diffusers", "a1111", "invokeai-dream", "comfyui-workflow", "broken",
)  # fmt: skip
# What a JSON text that matches no format is taken for, by the name of its PNG chunk (so that a
# damaged graph is refused with what is wrong with it).
_CHUNK_HINTS = {
    "prompt": "comfyui", "workflow": "comfyui-workflow", "invokeai_metadata": "invokeai",
    "sd-metadata": "invokeai-2",
}  # fmt: skip
_PREFIXED_JSON = re.compile(r"^\s*([A-Za-z_][\w -]{0,40}):\s*(\{.*)$", re.S)
_DREAM = re.compile(r'^\s*+"(?:[^"\\]++|\\.)*+"\s+-[A-Za-z]')


@dataclass(frozen=True)
class Found:
    """One format found in a file: its name, where it was, and its content (text or JSON)."""

    format: str
    where: str
    content: Any


def read_texts(path: str | os.PathLike[str]) -> tuple[str, dict[str, str]]:
    """(image kind, {where: text}) of every metadata text in the file."""
    from core.formats.exif import read_exif_texts, sniff_format
    from core.formats.png import read_png_text

    kind = sniff_format(path)
    if kind == "png":
        return kind, {f"PNG text chunk {k!r}": v for k, v in read_png_text(path).items()}
    return kind, read_exif_texts(path, kind)


def detect(texts: dict[str, str]) -> tuple[list[Found], list[str]]:
    """(the formats found, richest first; where texts were that match no format)."""
    found: list[Found] = []
    unknown: list[str] = []
    chunks = {_chunk_name(where): text for where, text in texts.items()}
    novelai = _novelai_png(chunks, texts)
    if novelai is not None:
        found.append(novelai)
    for where, text in texts.items():
        name = _chunk_name(where)
        if novelai is not None and name in (
            "Description",
            "Comment",
            "Software",
            "Source",
            "Title",
        ):
            continue
        if name in ("Software", "Title", "Source", "Author", "Creation Time", "XML:com.adobe.xmp"):
            continue
        item = classify(where, text, name)
        if item is None:
            unknown.append(where)
        else:
            found.append(item)
    found.sort(key=lambda f: RANK.index(f.format))
    return found, unknown


def classify(where: str, text: str, chunk: str = "") -> Found | None:
    """The format one text holds, or None when it holds none."""
    from core.formats.a1111 import looks_like_infotext

    body = text.strip()
    prefixed = _PREFIXED_JSON.match(body)
    if prefixed is not None and not body.startswith("{"):
        chunk, body = prefixed.group(1), prefixed.group(2)
    problem = None
    if body.startswith(("{", "[")):
        data = _json(body)
        if not isinstance(data, str):
            wrapped = data.get("prompt")
            if isinstance(wrapped, dict) and is_api_graph(wrapped):  # {"prompt": graph, ...}
                return Found("comfyui", where, wrapped)
            fmt = _json_format(data, chunk) or _CHUNK_HINTS.get(chunk)
            return None if fmt is None else Found(fmt, where, data)
        problem = data
    if chunk != "atelier" and _DREAM.match(body):
        return Found("invokeai-dream", where, body)
    if chunk != "atelier" and looks_like_infotext(text):  # a prompt may start with "{a|b}"
        return Found("a1111", where, text)
    if problem is not None and (chunk in _CHUNK_HINTS or body.startswith("{")):
        return Found("broken", where, f"the {_label(where)} {problem}")
    return None


def _json(text: str) -> dict[str, Any] | str:
    """The JSON object in a text, or what is wrong with it."""
    if len(text) > MAX_JSON_CHARS:
        return f"is {len(text)} characters of JSON; expected <= {MAX_JSON_CHARS}"
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        return f"is not valid JSON ({str(exc)[:200]})"
    if not isinstance(data, dict):
        return f"is a JSON {type(data).__name__}, expected an object"
    return data


def _label(where: str) -> str:
    name = _chunk_name(where)
    return f"{name!r} chunk" if name else f"{where} text"


def _json_format(data: dict[str, Any], chunk: str) -> str | None:
    keys = set(data)
    if chunk == "atelier" or (isinstance(data.get("request"), dict) and "task" in data["request"]):
        return "atelier"
    if "sui_image_params" in keys:
        return "swarmui"
    if is_ui_workflow(data):
        return "comfyui-workflow"
    if is_api_graph(data):
        return "comfyui"
    if keys & {"positive_prompt", "generation_mode"} or chunk == "invokeai_metadata":
        return "invokeai"
    if isinstance(data.get("image"), dict) and keys & {"model_weights", "app_id", "app_version"}:
        return "invokeai-2"
    if data.get("Software") == "NovelAI" or ("uc" in keys and "scale" in keys):
        return "novelai"
    if (
        data.get("metadata_scheme") == "fooocus"
        or str(data.get("version", "")).startswith("Fooocus")
        or str(data.get("software", "")).startswith("RuinedFooocus")
        or {"full_prompt", "base_model"} <= keys
    ):
        return "fooocus"
    if is_diffusers_json(keys):
        return "diffusers"
    return None


def _chunk_name(where: str) -> str:
    match = re.match(r"PNG text chunk '(.*)'$", where)
    return match.group(1) if match else ""


def _novelai_png(chunks: dict[str, str], texts: dict[str, str]) -> Found | None:
    """NovelAI's PNG: `Software` says NovelAI; the prompt and settings are in other chunks."""
    if chunks.get("Software") != "NovelAI":
        return None
    content: dict[str, str] = {
        k: chunks[k] for k in ("Description", "Source", "Comment", "Title") if k in chunks
    }
    content["Software"] = "NovelAI"
    return Found("novelai", "PNG text chunks 'Description' and 'Comment' (NovelAI)", content)


__all__ = ["RANK", "Found", "classify", "detect", "read_texts"]
