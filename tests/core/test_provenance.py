"""The provenance record: one typed object per image, the same text in the PNG and the library,
and records of every earlier version still read."""

from __future__ import annotations

import json
import platform

import pytest
from PIL import Image

from core.errors import BadInput
from core.formats.png import ATELIER_CHUNK
from core.generation import Generator
from core.provenance import RECORD_VERSION, ProvenanceRecord
from core.request import GenerationRequest


def _generate(generator: Generator) -> tuple[ProvenanceRecord, str, str]:
    request = GenerationRequest(
        task="text2img", model="demo:sd", prompt="a green star", seed=4, steps=2
    )
    [made] = generator.generate(request)
    output = generator.library.runs.get_output(made.output_id)
    assert output is not None
    with Image.open(made.path) as png:
        chunk = png.text[ATELIER_CHUNK]
    return ProvenanceRecord.from_json(output.record_json), output.record_json, chunk


def test_the_png_and_the_library_hold_the_same_record(generator: Generator) -> None:
    record, stored, chunk = _generate(generator)
    assert stored == chunk
    assert record.version == RECORD_VERSION
    assert record.image is not None and record.image.seed == 4
    assert record.base.name == "demo:sd" and len(record.base.fingerprint) == 64
    assert record.environment["node"] == (platform.node() or None)
    assert ProvenanceRecord.from_json(record.to_json()) == record  # round trip, nothing lost


def test_a_version_1_record_still_reads(generator: Generator) -> None:
    record, stored, _ = _generate(generator)
    old = json.loads(stored)
    old["version"] = 1
    del old["environment"]["node"]  # version 1 did not name the machine
    again = ProvenanceRecord.from_dict(old)
    assert again.version == 1
    assert again.request == record.request and again.image == record.image
    assert "node" not in again.environment


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"version": 99}, "version"),
        ({"format": "something-else"}, "format"),
        ({"models": {}}, "record"),
    ],
)
def test_a_record_that_cannot_be_read_says_why(
    generator: Generator, change: dict[str, object], field: str
) -> None:
    _, stored, _ = _generate(generator)
    data = {**json.loads(stored), **change}
    with pytest.raises(BadInput) as raised:
        ProvenanceRecord.from_dict(data)
    assert raised.value.field == field


def test_listing_reads_only_the_request_quickly(generator: Generator) -> None:
    record, stored, _ = _generate(generator)
    assert ProvenanceRecord.request_fields(stored) == record.request.to_dict()
    assert ProvenanceRecord.request_fields("not json") == {}
