"""`atelier demo`: what the trained demo model draws, as a grid, then every pipeline once.

All on the built-in demo models, into one folder, offline. The grid is the app's own X/Y grid
(a sweep through the queue): prompts across, guidance scale 1 and the model's default down, so
it also shows what classifier-free guidance does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from core.engine.runner import ProgressCallback
from core.errors import AtelierError, JobFailed
from core.generation import GeneratedOutput, Generator
from core.request import GenerationRequest

if TYPE_CHECKING:
    from core.library import Library
    from core.queue.sweep import Axis

PROMPTS = (
    "a red circle on a blue background",
    "a yellow star on a purple background",
    "a green square on a white background",
    "an orange triangle on a black background",
)
# Prompts for the grid; the last three use colour pairs and phrasings held out from training.
GRID_PROMPTS = (
    *PROMPTS,
    "a black circle, on an orange background",
    "red background with a purple star",
    "a white triangle with a yellow background",
)
GRID_SEED = 3


def demo_grid_spec() -> tuple[GenerationRequest, Axis, Axis]:
    """The demo grid's template and axes: GRID_PROMPTS across, guidance 1 and the default down."""
    from core.models.demo import demo_defaults
    from core.queue.sweep import Axis

    default_cfg = float(demo_defaults("demo:sd")["cfg_scale"])
    template = GenerationRequest("text2img", "demo:sd", GRID_PROMPTS[0], seed=GRID_SEED)
    return (
        template,
        Axis("prompt", "prompt", GRID_PROMPTS),
        Axis("cfg", "cfg_scale", (1.0, default_cfg)),
    )


def run_demo_grid(
    library: Library,
    out: Path,
    generator: Generator | None = None,
    on_progress: Callable[[str], None] | None = None,
    progress_for: Callable[[str], ProgressCallback] | None = None,
) -> Path:
    """Queue the demo grid in project "demo", run its cells, and return the grid PNG's path."""
    from core.queue.sweep import assemble_grid, grid_pending, queue_grid
    from core.queue.worker import Worker, WorkerEvents

    template, x, y = demo_grid_spec()
    grid = queue_grid(library, template, x, y, project="demo", out_dir=out / "grid")
    cells = sum(len(row) for row in grid.job_ids)
    if on_progress:
        guidance = ", ".join(f"{v:g}" for v in y.values)
        on_progress(f"grid: {cells} cells on demo:sd (prompts x guidance {guidance})")
    failures: list[tuple[int, str]] = []  # job id, message
    events = WorkerEvents(job_failed=lambda job, kind, message: failures.append((job.id, message)))
    if progress_for is not None:
        bar = progress_for("grid")
        events.step = lambda job, progress: bar(progress)
    worker = Worker(library, generator, events=events)
    while grid_pending(library, grid.id) and worker.run_one():
        pass
    if failures:
        raise JobFailed(*failures[0], others=len(failures) - 1)
    pending = grid_pending(library, grid.id)
    if pending:
        raise AtelierError(f"demo grid {grid.id}: jobs {pending} are not done (another worker?)")
    return assemble_grid(library, grid.id, out / "demo-grid.png")


@dataclass
class DemoResult:
    grid: Path
    made: list[tuple[str, GeneratedOutput]] = field(default_factory=list)


def run_demo(
    library: Library,
    out: Path,
    on_progress: Callable[[str], None] | None = None,
    progress_for: Callable[[str], ProgressCallback] | None = None,
) -> DemoResult:
    """The demo grid, then text2img for a few prompts, img2img and inpainting on demo:sd, and
    depth, upscale and SDXL + refiner on the other demo models."""
    from PIL import Image, ImageDraw

    generator = Generator(library)
    grid = run_demo_grid(library, out, generator, on_progress, progress_for)
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
    # The first image again, its circle turned green; then a yellow star painted into the middle.
    recolour = "a green circle on a blue background"
    one("img2img", GenerationRequest("img2img", "demo:sd", recolour, seed=7, init_image=init))
    mask = Image.new("L", (64, 64), 0)
    ImageDraw.Draw(mask).rectangle((12, 12, 52, 52), fill=255)
    out.mkdir(parents=True, exist_ok=True)
    mask_path = out / "inpaint-mask.png"
    mask.save(mask_path)
    star = "a yellow star on a blue background"
    for name, model in (("inpaint", "demo:sd"), ("inpaint-9ch", "demo:sd-inpaint")):
        one(
            name,
            GenerationRequest("inpaint", model, star, seed=8, init_image=init, mask=str(mask_path)),
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
    return DemoResult(grid, made)
