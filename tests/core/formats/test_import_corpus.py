"""Every file of the corpus (real images by other tools, flattened by corpus/flatten.py) imports
with each hand-checked field right, or is refused with a clear message naming the file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from core.errors import BadInput
from core.formats.importer import import_image

CORPUS = Path(__file__).parent / "corpus"
MANIFEST = json.loads((CORPUS / "manifest.json").read_text(encoding="utf-8"))
FIELDS = (
    "prompt", "negative_prompt", "seed", "steps", "cfg_scale", "scheduler", "width", "height",
    "model", "strength", "task", "clip_skip", "refiner", "high_noise_frac",
)  # fmt: skip


def _entries() -> list[Any]:
    return [pytest.param(entry, id=entry["file"]) for entry in MANIFEST["files"]]


def test_the_corpus_covers_the_formats_and_each_file_names_its_source() -> None:
    formats = {e["expect"].get("format") for e in MANIFEST["files"]}
    assert {"a1111", "comfyui", "comfyui-workflow", "invokeai", "invokeai-2"} <= formats
    assert {"invokeai-dream", "novelai", "fooocus"} <= formats
    assert len(MANIFEST["files"]) >= 30
    for entry in MANIFEST["files"]:
        assert (CORPUS / entry["file"]).stat().st_size < 40_000, entry["file"]
        assert {"repo", "path", "commit", "licence"} <= set(entry["source"])


@pytest.mark.parametrize("entry", _entries())
def test_corpus_file_imports_right_or_is_refused(entry: dict[str, Any]) -> None:
    path = CORPUS / entry["file"]
    expect = entry["expect"]
    if "refused" in expect:
        with pytest.raises(BadInput) as caught:
            import_image(path)
        assert str(caught.value).startswith(f"{path}: {expect['refused']}")
        return
    imported = import_image(path)
    request = imported.request.to_dict()
    assert imported.format == expect["format"]
    assert imported.runnable is expect["runnable"]
    wrong = {
        name: (request[name], expect[name])
        for name in FIELDS
        if name in expect and request[name] != expect[name]
    }
    assert not wrong, f"{entry['file']}: (imported, expected) {wrong}"
    for name in FIELDS:
        if name in expect and name not in ("task",) and expect[name] not in (None, "unknown", ""):
            assert name in imported.field_sources, f"{entry['file']}: no source for {name}"
    if not imported.runnable:
        assert imported.not_runnable_reason.startswith("imported for reference, cannot be run")
        assert expect["architecture"] in imported.not_runnable_reason
    for text in expect.get("unmapped_contains", ()):
        assert any(text in entry for entry in imported.unmapped), text
    for text in expect.get("notes_contains", ()):
        assert any(text in note for note in imported.notes), text
