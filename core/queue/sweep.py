"""X/Y sweeps: one queued job per cell of a grid over one or two parameters, and the labelled
grid image assembled from their outputs. Every cell stays in history as an ordinary output.

The grid image carries an `atelier-grid` PNG chunk: the axes and, for each cell, its job and
output ids, so the grid knows its cells.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import BadInput
from core.queue.jobs import NewJob
from core.request import GenerationRequest, with_seed

if TYPE_CHECKING:
    from core.library import Library

GRID_CHUNK = "atelier-grid"
# what a person types -> the request field it sweeps
AXIS_FIELDS = {
    "cfg": "cfg_scale",
    "cfg_scale": "cfg_scale",
    "steps": "steps",
    "seed": "seed",
    "scheduler": "scheduler",
    "sampler": "scheduler",
    "strength": "strength",
    "prompt": "prompt",
    "negative": "negative_prompt",
    "negative_prompt": "negative_prompt",
    "model": "model",
    "noise_level": "noise_level",
    "high_noise_frac": "high_noise_frac",
    "clip_skip": "clip_skip",
    "width": "width",
    "height": "height",
    "mask_blur": "mask_blur",
}
MAX_CELLS = 400
MIN_CELL = 128  # small cells are scaled up (nearest) in the grid sheet so labels fit


@dataclass(frozen=True)
class Axis:
    name: str
    field: str
    values: tuple[Any, ...]

    def label(self, value: Any) -> str:
        return f"{self.name}: {value}"


def parse_axis(text: str, template: GenerationRequest) -> Axis:
    """`PARAM=V1,V2,...` (or `PARAM=V1|V2` when values hold commas) into a typed axis."""
    name, sep, values_text = text.partition("=")
    name = name.strip().lower().replace("-", "_")
    if not sep or not values_text.strip():
        raise BadInput("axis", f"{text!r}: expected PARAM=V1,V2,... (e.g. cfg=3,7,11)")
    if name not in AXIS_FIELDS:
        raise BadInput(
            "axis", f"{name!r} cannot be swept; expected one of {', '.join(sorted(AXIS_FIELDS))}"
        )
    separator = "|" if "|" in values_text else ","
    raw = [v.strip() for v in values_text.split(separator) if v.strip()]
    field = AXIS_FIELDS[name]
    values = tuple(_typed(field, v, template) for v in raw)
    if len(set(map(str, values))) != len(values):
        raise BadInput("axis", f"{name}: a value is given twice")
    return Axis(name, field, values)


def _typed(field: str, text: str, template: GenerationRequest) -> Any:
    kind = str(next(f.type for f in dataclasses.fields(GenerationRequest) if f.name == field))
    try:
        if kind.startswith("int"):
            return int(text)
        if kind.startswith("float"):
            return float(text)
    except ValueError as exc:
        raise BadInput(field, f"{text!r} is not a {kind.split(' ')[0]}") from exc
    return text


@dataclass(frozen=True)
class Grid:
    id: int
    x: Axis
    y: Axis | None
    job_ids: tuple[tuple[int, ...], ...]  # rows (y) of cells (x)
    out_path: str | None


def queue_grid(
    library: Library,
    template: GenerationRequest,
    x: Axis,
    y: Axis | None = None,
    *,
    project: str = "default",
    out_dir: Path | None = None,
) -> Grid:
    """Check every cell, then queue one job per cell (row-major) and remember the grid."""
    if "seed" not in (x.field, y.field if y else None):
        template = with_seed(template)  # one seed for every cell: they differ only by their axes
    rows = y.values if y else (None,)
    if len(rows) * len(x.values) > MAX_CELLS:
        raise BadInput("axis", f"{len(rows) * len(x.values)} cells; at most {MAX_CELLS}")
    cells: list[GenerationRequest] = []
    for y_value in rows:
        for x_value in x.values:
            changes = {x.field: x_value}
            if y is not None:
                changes[y.field] = y_value
            request = template.replace(**changes)
            request.validate()
            cells.append(request)
    out = str(out_dir.resolve()) if out_dir else None
    spec = {"x": _axis_dict(x), "y": _axis_dict(y) if y else None}
    grid_id = library.grids.create(spec, project, out)
    added = library.queue.submit_many(
        [NewJob(r, project=project, out_dir=out, batch_id=f"grid:{grid_id}") for r in cells]
    )
    ids = [j.id for j in added]
    width = len(x.values)
    job_rows = tuple(tuple(ids[i : i + width]) for i in range(0, len(ids), width))
    library.grids.set_jobs(grid_id, job_rows)
    return Grid(grid_id, x, y, job_rows, None)


def load_grid(library: Library, grid_id: int) -> Grid:
    record = library.grids.get(grid_id)
    if record is None:
        raise BadInput("grid", f"no grid {grid_id} in this library")
    y = _axis(record.spec["y"]) if record.spec["y"] else None
    return Grid(record.id, _axis(record.spec["x"]), y, record.job_ids, record.out_path)


def assemble_grid(library: Library, grid_id: int, path: Path | None = None) -> Path:
    """Draw the labelled grid from the cells' outputs; every cell must be done."""
    from PIL import Image, ImageDraw, ImageFont

    from core.formats.png import png_bytes, write_atomic

    grid = load_grid(library, grid_id)
    cells = [[_cell_output(library, job_id) for job_id in row] for row in grid.job_ids]
    images = [[Image.open(o.path).convert("RGB") for o in row] for row in cells]
    scale = max(1, -(-MIN_CELL // max(im.width for row in images for im in row)))  # ceil
    cw = scale * max(im.width for row in images for im in row)
    ch = scale * max(im.height for row in images for im in row)
    font = ImageFont.load_default(size=14)
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    y_labels = [_fit(measure, str(v), font, 220) for v in grid.y.values] if grid.y else []
    left = max((int(measure.textlength(t, font=font)) for t in y_labels), default=0)
    left = max(left + 12, 90) if grid.y else 0
    top = 44
    canvas = Image.new("RGB", (left + cw * len(grid.x.values), top + ch * len(images)), "white")
    draw = ImageDraw.Draw(canvas)
    corner = f"x: {grid.x.name}" + (f"\ny: {grid.y.name}" if grid.y else "")
    draw.multiline_text((4, 2), corner, fill=(90, 90, 90), font=ImageFont.load_default(size=12))
    for i, value in enumerate(grid.x.values):
        label = _fit(measure, str(value), font, cw - 8)
        draw.text((left + i * cw + 4, top - 20), label, fill="black", font=font)
    for j, row in enumerate(images):
        if grid.y is not None:
            draw.text((4, top + j * ch + 4), y_labels[j], fill="black", font=font)
        for i, image in enumerate(row):
            if scale > 1:
                image = image.resize(
                    (image.width * scale, image.height * scale), Image.Resampling.NEAREST
                )
            canvas.paste(image, (left + i * cw, top + j * ch))
    meta = {
        "grid_id": grid.id,
        "x": _axis_dict(grid.x),
        "y": _axis_dict(grid.y) if grid.y else None,
        "cells": [[{"job_id": jid, "output_id": o.id} for jid, o in zip(jr, orow, strict=True)]
                  for jr, orow in zip(grid.job_ids, cells, strict=True)],
    }  # fmt: skip
    target = path or _default_path(library, grid)
    target.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(target, png_bytes(canvas, {GRID_CHUNK: json.dumps(meta, sort_keys=True)}))
    library.grids.set_out_path(grid.id, str(target))
    return target


def keep_grid_in_history(library: Library, grid_id: int, path: Path) -> int:
    """Keep the grid image in the history as an output whose parents are its cells' outputs
    (the inspector's lineage links them); returns its output id. Its record is the grid's
    chunk and a request of task "grid": it shows in the history, it does not run again."""
    import hashlib
    import json

    from PIL import Image

    from core.formats.png import read_png_text
    from core.library.entities import NewAsset, NewOutput
    from core.provenance import ProvenanceRecord
    from core.records import pixel_sha256

    grid = load_grid(library, grid_id)
    meta = json.loads(read_png_text(path).get(GRID_CHUNK, "{}"))
    cells = [cell["output_id"] for row in meta.get("cells", []) for cell in row]
    axes = grid.x.name + (f" x {grid.y.name}" if grid.y else "")
    data = path.read_bytes()
    stored = library.store.put_bytes(data, "png")
    with Image.open(path) as image:
        pixels, size = pixel_sha256(image), image.size
    first = library.runs.get_output(cells[0]) if cells else None
    model = ProvenanceRecord.request_fields(first.record_json).get("model", "") if first else ""
    request = {"task": "grid", "model": model, "prompt": f"sweep grid {grid_id}: {axes}"}
    request_json = json.dumps(request, sort_keys=True)
    relpath = str(stored.path.relative_to(library.store.root))
    output = NewOutput(
        asset=NewAsset(stored.sha256, relpath, stored.size, "png", "output", *size),
        path=str(path), image_index=0, seed=first.seed if first else 0, pixel_sha256=pixels,
        record_json=json.dumps({"request": request, "grid": meta}), parent_ids=tuple(cells),
    )  # fmt: skip
    project = library.projects.get_or_create(first.project if first else "default")
    digest = hashlib.sha256(request_json.encode()).hexdigest()
    _, [output_id] = library.runs.record_run(
        project.id, None, request_json, digest, "{}", "{}", [output]
    )
    return output_id


def grid_pending(library: Library, grid_id: int) -> list[int]:
    """The grid's jobs that are not done yet."""
    grid = load_grid(library, grid_id)
    return [
        j
        for row in grid.job_ids
        for j in row
        if (job := library.jobs.get(j)) is None or job.status != "done"
    ]


def _cell_output(library: Library, job_id: int) -> Any:
    output = library.runs.first_output_of_job(job_id)
    if output is None:
        raise BadInput("grid", f"job {job_id} of the grid has no output yet (is it done?)")
    return output


def _default_path(library: Library, grid: Grid) -> Path:
    record = library.grids.get(grid.id)
    folder = Path(record.out_dir) if record is not None and record.out_dir else None
    return (folder or library.home / "grids") / f"grid-{grid.id}.png"


def _fit(draw: Any, text: str, font: Any, width: int) -> str:
    """`text`, cut with an ellipsis to fit `width` pixels."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"


def _axis_dict(axis: Axis | None) -> dict[str, Any] | None:
    return (
        None
        if axis is None
        else {"name": axis.name, "field": axis.field, "values": list(axis.values)}
    )


def _axis(data: dict[str, Any]) -> Axis:
    return Axis(str(data["name"]), str(data["field"]), tuple(data["values"]))
