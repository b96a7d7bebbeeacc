"""LoRAs with weights and the depth map in the generate panel; the depth map on the canvas."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from desktop_helpers import fill_demo, write_png

from core.library.entities import NewAsset, NewOutput
from core.request import LoraRef
from desktop.main_window import MainWindow
from desktop.panels.canvas import ESTIMATED


def _tiny_lora(path: Path) -> Path:
    """A small LoRA-shaped safetensors file (the queue does not read it; the worker would)."""
    from safetensors.numpy import save_file

    rng = np.random.default_rng(0)
    key = "unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q"
    save_file(
        {
            f"{key}.lora_A.weight": rng.standard_normal((4, 32)).astype(np.float32),
            f"{key}.lora_B.weight": rng.standard_normal((32, 4)).astype(np.float32),
        },
        str(path),
    )
    return path


def test_a_lora_with_its_weight_goes_into_the_queued_request(
    window: MainWindow, tmp_path: Path
) -> None:
    lora = str(_tiny_lora(tmp_path / "fox.safetensors"))
    fill_demo(window)
    panel = window.generate
    panel.loras.add_lora(lora)
    panel.loras.add_lora(str(tmp_path / "other.safetensors"), -2.5)
    panel.loras.table.setCurrentCell(1, 0)
    panel.loras.remove_selected()
    weight = panel.loras.table.cellWidget(0, 1)
    weight.setValue(0.7)  # type: ignore[union-attr]
    jobs = panel.queue_jobs(1)
    assert len(jobs) == 1
    assert jobs[0].request.loras == (LoraRef(lora, 0.7),)
    stored = window.session.jobs.get(jobs[0].id)
    assert stored is not None and stored.request.loras == (LoraRef(lora, 0.7),)


def test_use_these_settings_fills_the_loras_back(window: MainWindow) -> None:
    library = window.session.library
    project = library.projects.get_or_create("default")
    request = {
        "task": "text2img", "model": "demo:sd", "prompt": "a fox",
        "loras": [{"path": "/loras/a.safetensors", "weight": 0.5},
                  {"path": "/loras/b.safetensors", "weight": -1.25}],
    }  # fmt: skip
    output = NewOutput(
        asset=NewAsset(sha256=f"{1:064x}", relpath="x/1.png", size=1, format="png"),
        path="/nonexistent/1.png", image_index=0, seed=3, pixel_sha256=f"{1:064x}",
        record_json=json.dumps({"request": request}),
    )  # fmt: skip
    _, (output_id,) = library.runs.record_run(
        project.id, None, json.dumps(request), f"{1:064x}", "{}", "{}", [output]
    )
    window.inspector.show_output(output_id)
    window.inspector.use_settings()
    assert window.generate.loras.loras() == (
        LoraRef("/loras/a.safetensors", 0.5),
        LoraRef("/loras/b.safetensors", -1.25),
    )
    assert window.generate.request().loras == window.generate.loras.loras()


def test_a_depth_map_file_is_shown_and_queued(window: MainWindow, tmp_path: Path) -> None:
    init = write_png(tmp_path / "init.png", (64, 64))
    depth = write_png(tmp_path / "depth.png", (48, 40))
    fill_demo(window, task="depth", model="demo:sd-depth")
    panel, canvas = window.generate, window.canvas
    panel.init_image.setText(str(init))
    assert canvas.load(str(init))
    assert not canvas.depth.isHidden() and canvas.depth.text() == ESTIMATED
    panel.depth_map.setText(str(depth))
    assert canvas.depth_pixmap.width() == 48 and canvas.depth_pixmap.height() == 40
    assert not canvas.depth.pixmap().isNull()
    jobs = panel.queue_jobs(1)
    assert len(jobs) == 1 and jobs[0].request.depth_map == str(depth)
    # another task: no depth map beside the image, and sending elsewhere clears the field
    panel.set_input("img2img", str(init))
    assert panel.depth_map.text() == "" and canvas.depth.isHidden()


def test_a_dropped_atelier_png_brings_its_loras(window: MainWindow, tmp_path: Path) -> None:
    request = {
        "task": "text2img", "model": "demo:sd", "prompt": "a fox",
        "loras": [{"path": "/loras/a.safetensors", "weight": 0.25}],
    }  # fmt: skip
    png = write_png(tmp_path / "made.png", text={"atelier": json.dumps({"request": request})})
    assert window.import_file(png)
    assert window.generate.loras.loras() == (LoraRef("/loras/a.safetensors", 0.25),)
