"""Class images for DreamBooth's prior preservation, made by the base model itself through the
ordinary generation path, so they are outputs in the library's history like any other image.

A later run with the same base model (by fingerprint), class prompt, seed, count and size finds
the earlier generation by its request hash and reuses its images instead of making them again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from core.errors import BadInput
from core.provenance import ProvenanceRecord
from core.request import GenerationRequest

if TYPE_CHECKING:
    from core.generation import Generator

PROJECT = "training"


@dataclass(frozen=True)
class ClassImages:
    run_id: int
    output_ids: tuple[int, ...]
    sha256: tuple[str, ...]
    pixels: list[np.ndarray]
    reused: bool


def class_request(
    base: str, prompt: str, seed: int, count: int, resolution: int, threads: int
) -> GenerationRequest:
    return GenerationRequest(
        task="text2img",
        model=base,
        prompt=prompt,
        seed=seed,
        width=resolution,
        height=resolution,
        batch_count=count,
        device="cpu",
        dtype="float32",
        threads=threads,
    )


def class_images(
    generator: Generator,
    request: GenerationRequest,
    base_fingerprint: str,
    on_note: Callable[[str], None] | None = None,
) -> ClassImages:
    """The class images of `request`: an earlier generation's if its outputs are all still
    there and its base model had this fingerprint, else made now (and recorded)."""
    found = made_before(generator, request, base_fingerprint)
    if found is not None:
        return found
    if on_note is not None:
        on_note(f"making {request.batch_count} class images with {request.model}")
    outputs = generator.generate(request, project=PROJECT)
    return ClassImages(
        run_id=outputs[0].run_id,
        output_ids=tuple(o.output_id for o in outputs),
        sha256=tuple(o.sha256 for o in outputs),
        pixels=[_read(Path(o.path)) for o in outputs],
        reused=False,
    )


def made_before(
    generator: Generator, request: GenerationRequest, base_fingerprint: str
) -> ClassImages | None:
    """The class images an earlier run of `request` made (with the same base weights), if
    they are all still there."""
    return _earlier(generator, generator.prepare(request).request.hash(), base_fingerprint)


def _earlier(generator: Generator, request_hash: str, fingerprint: str) -> ClassImages | None:
    library = generator.library
    for run_id in reversed(library.runs.ids_by_request_hash(request_hash)):
        run = library.runs.get_run(run_id)
        if run is None or not run.output_ids:
            continue
        outputs = [library.runs.get_output(i) for i in run.output_ids]
        if any(o is None or not Path(o.path).is_file() for o in outputs):
            continue
        present = [o for o in outputs if o is not None]
        try:
            record = ProvenanceRecord.from_json(present[0].record_json)
        except BadInput:
            continue
        if record.base.fingerprint != fingerprint:
            continue
        return ClassImages(
            run_id=run_id,
            output_ids=tuple(o.id for o in present),
            sha256=tuple(o.pixel_sha256 for o in present),
            pixels=[_read(Path(o.path)) for o in present],
            reused=True,
        )
    return None


def _read(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"), dtype=np.uint8)
