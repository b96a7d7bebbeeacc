"""`atelier demo`: every pipeline once on the built-in demo models, into one folder, offline."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from core.engine.runner import ProgressCallback
from core.generation import GeneratedOutput, Generator
from core.request import GenerationRequest

if TYPE_CHECKING:
    from core.library import Library

PROMPTS = (
    "a red circle on a blue background",
    "a yellow star on a purple background",
    "a green square on a white background",
    "an orange triangle on a black background",
)


def run_demo(
    library: Library,
    out: Path,
    on_progress: Callable[[str], None] | None = None,
    progress_for: Callable[[str], ProgressCallback] | None = None,
) -> list[tuple[str, GeneratedOutput]]:
    """Text2img for a few prompts, then img2img, inpaint, depth, upscale and SDXL + refiner."""
    from PIL import Image, ImageDraw

    generator = Generator(library)
    made: list[tuple[str, GeneratedOutput]] = []

    def one(name: str, request: GenerationRequest) -> GeneratedOutput:
        if on_progress:
            on_progress(f"{name}: {request.task} on {request.model}")
        output = generator.generate(
            request,
            project="demo",
            out_dir=out,
            stem=name,
            on_step=progress_for(name) if progress_for else None,
        )[0]
        made.append((name, output))
        return output

    first: GeneratedOutput | None = None
    for i, prompt in enumerate(PROMPTS):
        o = one(f"text2img-{i + 1}", GenerationRequest("text2img", "demo:sd", prompt, seed=i + 1))
        first = first or o
    assert first is not None
    init = f"output:{first.output_id}"
    one("img2img", GenerationRequest("img2img", "demo:sd", PROMPTS[1], seed=7, init_image=init))
    mask = Image.new("L", (64, 64), 0)
    ImageDraw.Draw(mask).ellipse((16, 16, 48, 48), fill=255)
    out.mkdir(parents=True, exist_ok=True)
    mask_path = out / "inpaint-mask.png"
    mask.save(mask_path)
    one(
        "inpaint",
        GenerationRequest(
            "inpaint", "demo:sd-inpaint", PROMPTS[2], seed=8, init_image=init, mask=str(mask_path)
        ),
    )
    one("depth", GenerationRequest("depth", "demo:sd-depth", PROMPTS[3], seed=9, init_image=init))
    one(
        "upscale-x4",
        GenerationRequest("upscale", "demo:sd-upscale", PROMPTS[0], seed=10, init_image=init),
    )
    one(
        "sdxl-refined",
        GenerationRequest(
            "text2img", "demo:sdxl", PROMPTS[0], seed=11, refiner="demo:sdxl-refiner"
        ),
    )
    return made
