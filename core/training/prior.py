"""Class images for DreamBooth's prior preservation, made by the base model itself through the
ordinary generation path, so they are outputs in the library's history like any other image.

The class prompt may hold several prompts separated by `|` ("a red star on a blue background|a
green circle on a white background|..."): the images are shared out among them in order (the
first prompts get one more when the count does not divide), one generation per prompt (the seeds
run on: `--seed` ... `--seed + N - 1` over all of them), and each class image is trained with its
own prompt. Prompts that name what the base model already draws
well hold more of it in place than one generic prompt (docs/training.md).

A later run with the same base model (by fingerprint), class prompt, seed, count and size finds
each earlier generation by its request hash and reuses its images instead of making them again.
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
    run_ids: tuple[int, ...]  # one generation per class prompt
    output_ids: tuple[int, ...]
    sha256: tuple[str, ...]
    pixels: list[np.ndarray]
    captions: tuple[str, ...]  # each image's class prompt
    reused: bool  # every generation was found again

    @property
    def run_id(self) -> int:
        return self.run_ids[0]


def class_prompts(class_prompt: str) -> list[str]:
    """The prompts of a class prompt: `|` separates several."""
    return [p.strip() for p in class_prompt.split("|") if p.strip()]


def class_requests(
    base: str, class_prompt: str, seed: int, count: int, resolution: int, threads: int
) -> list[GenerationRequest]:
    """One request per class prompt, `count` images shared out among them in order; the seeds
    run on from prompt to prompt, so the images' seeds are `seed` ... `seed + count - 1`."""
    prompts = class_prompts(class_prompt)
    shares = [count // len(prompts) + (i < count % len(prompts)) for i in range(len(prompts))]
    starts = [seed + sum(shares[:i]) for i in range(len(prompts))]
    return [
        class_request(base, prompt, start, share, resolution, threads)
        for prompt, start, share in zip(prompts, starts, shares, strict=True)
        if share
    ]


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
    requests: list[GenerationRequest],
    base_fingerprint: str,
    on_note: Callable[[str], None] | None = None,
) -> ClassImages:
    """The class images of every request, in order (see `one_prompt`)."""
    made = [one_prompt(generator, r, base_fingerprint, on_note) for r in requests]
    return ClassImages(
        run_ids=tuple(m.run_id for m in made),
        output_ids=tuple(i for m in made for i in m.output_ids),
        sha256=tuple(h for m in made for h in m.sha256),
        pixels=[p for m in made for p in m.pixels],
        captions=tuple(c for m in made for c in m.captions),
        reused=all(m.reused for m in made),
    )


def one_prompt(
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
        on_note(f"making {request.batch_count} class images of {request.prompt!r}")
    outputs = generator.generate(request, project=PROJECT)
    return ClassImages(
        run_ids=(outputs[0].run_id,),
        output_ids=tuple(o.output_id for o in outputs),
        sha256=tuple(o.sha256 for o in outputs),
        pixels=[_read(Path(o.path)) for o in outputs],
        captions=(request.prompt,) * len(outputs),
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
            run_ids=(run_id,),
            output_ids=tuple(o.id for o in present),
            sha256=tuple(o.pixel_sha256 for o in present),
            pixels=[_read(Path(o.path)) for o in present],
            captions=(record.request.prompt,) * len(present),
            reused=True,
        )
    return None


def _read(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"), dtype=np.uint8)
