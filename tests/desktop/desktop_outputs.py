"""Real outputs for the gallery and viewer tests: PNG files in the library's store, recorded
as a run (no generation: the tests are about what the window shows)."""

from __future__ import annotations

import io
import json

from PIL import Image

from core.library.entities import NewAsset, NewOutput
from desktop.main_window import MainWindow


def png_bytes(colour: tuple[int, int, int], size: tuple[int, int] = (64, 48)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "PNG")
    return out.getvalue()


def record_outputs(
    window: MainWindow,
    colours: list[tuple[int, int, int]],
    *,
    task: str = "text2img",
    init: tuple[int, int, int] | None = None,
    stem: str = "out",
) -> list[int]:
    """One output per colour (ids in the order given); with `init`, made from that input."""
    library = window.session.library
    project = library.projects.get_or_create("default")
    inputs = {}
    if init is not None:
        stored = library.store.put_bytes(png_bytes(init), "png")
        relpath = str(stored.path.relative_to(library.store.root))
        library.assets.add(stored.sha256, relpath, stored.size, "png", "input", 64, 48)
        inputs = {"init_image": {"sha256": stored.sha256, "source": "init.png"}}
    request = {"task": task, "model": "demo:sd", "prompt": "a green square on white"}
    outputs = []
    for i, colour in enumerate(colours):
        stored = library.store.put_bytes(png_bytes(colour), "png")
        path = window.session.home / f"{stem}-{i}.png"
        path.write_bytes(stored.path.read_bytes())
        relpath = str(stored.path.relative_to(library.store.root))
        record = {"request": request, "inputs": inputs}
        asset = NewAsset(sha256=stored.sha256, relpath=relpath, size=stored.size, format="png")
        outputs.append(
            NewOutput(
                asset=asset,
                path=str(path), image_index=i, seed=100 + i, pixel_sha256=stored.sha256,
                record_json=json.dumps(record),
            )
        )  # fmt: skip
    _, ids = library.runs.record_run(
        project.id, None, json.dumps(request), f"{len(colours):064x}", "{}", "{}", outputs
    )
    window.history.refresh()
    return list(ids)
