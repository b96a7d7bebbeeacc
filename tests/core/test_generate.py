"""Every task end to end through the core on the demo models: images, records, lineage."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from core_helpers import TASK_CASES, case_ids, task_inputs
from PIL import Image

from core.engine.runner import StepProgress
from core.errors import Cancelled
from core.formats.png import read_atelier_record, read_png_text
from core.generation import Generator
from core.records import pixel_sha256
from core.request import GenerationRequest


def _req(task: str, model: str = "demo:sd", **kw: object) -> GenerationRequest:
    kw.setdefault("seed", 42)
    kw.setdefault("steps", 3)
    return GenerationRequest(
        task=task, model=model, prompt="a red circle on a blue background", **kw
    )  # type: ignore[arg-type]


def _check_output(generator: Generator, output_id: int, path: str) -> dict:
    """The file exists, carries our record and A1111 parameters, and matches the database."""
    stored = generator.library.runs.get_output(output_id)
    assert stored is not None
    png = Path(path)
    assert png.is_file()
    record = read_atelier_record(png)
    assert record == json.loads(stored.record_json)
    with Image.open(png) as image:
        assert pixel_sha256(image) == stored.pixel_sha256 == record["image"]["pixel_sha256"]
    assert "Steps: " in read_png_text(png)["parameters"]
    return record


@pytest.mark.parametrize(("task", "model", "inputs"), TASK_CASES, ids=case_ids(TASK_CASES))
def test_every_task_writes_recorded_images(
    generator: Generator,
    tmp_path: Path,
    init_png: Path,
    mask_png: Path,
    task: str,
    model: str,
    inputs: dict,
) -> None:
    kw = task_inputs(inputs, tmp_path, init_png, mask_png)
    outputs = generator.generate(_req(task, model, **kw), out_dir=tmp_path / "out")
    assert len(outputs) == 1
    record = _check_output(generator, outputs[0].output_id, outputs[0].path)
    assert record["request"]["task"] == task
    assert record["models"]["base"]["fingerprint"]
    assert record["environment"]["threads"] >= 1
    assert Image.open(outputs[0].path).size == (64, 64)  # upscale: x4 of 16x16
    if "init_image" in kw:  # the input is kept by content hash, so a re-run needs no file
        assert record["request"]["init_image"].startswith("sha256:")
        assert record["inputs"]["init_image"]["source"] == kw["init_image"]


def test_sdxl_with_refiner_records_both_models(generator: Generator, tmp_path: Path) -> None:
    steps: list[StepProgress] = []
    request = _req(
        "text2img", "demo:sdxl", steps=4, refiner="demo:sdxl-refiner", high_noise_frac=0.5
    )
    [out] = generator.generate(request, out_dir=tmp_path, on_step=steps.append)
    record = _check_output(generator, out.output_id, out.path)
    assert record["models"]["refiner"]["kind"] == "sdxl-refiner"
    assert record["pipeline"]["refiner_class"] == "StableDiffusionXLImg2ImgPipeline"
    assert {s.phase for s in steps} == {"base", "refiner"}


def test_same_request_twice_gives_the_same_pixels(generator: Generator) -> None:
    first = generator.generate(_req("text2img", batch_count=2))
    again = generator.generate(_req("text2img", batch_count=2))
    assert [o.sha256 for o in first] == [o.sha256 for o in again]
    assert first[0].sha256 != first[1].sha256  # seed, seed+1
    assert [o.seed for o in first] == [42, 43]


def test_batch_size_gives_one_output_per_image(generator: Generator) -> None:
    outs = generator.generate(_req("text2img", batch_size=2))
    assert [o.seed for o in outs] == [42, 43]
    assert len({o.sha256 for o in outs}) == 2


def test_img2img_of_an_output_records_its_parent(generator: Generator) -> None:
    [parent] = generator.generate(_req("text2img"))
    [child] = generator.generate(_req("img2img", init_image=f"output:{parent.output_id}"))
    child_row = generator.library.runs.get_output(child.output_id)
    parent_row = generator.library.runs.get_output(parent.output_id)
    assert child_row is not None and parent_row is not None
    assert list(child_row.parent_ids) == [parent.output_id]
    assert list(parent_row.child_ids) == [child.output_id]


def test_progress_reports_each_step_with_a_preview(generator: Generator) -> None:
    events: list[StepProgress] = []
    generator.generate(_req("text2img", steps=5), on_step=events.append)
    assert [e.step for e in events] == [1, 2, 3, 4, 5]
    assert all(e.steps == 5 for e in events)
    assert isinstance(events[-1].preview, Image.Image)


def test_cancel_stops_at_the_next_step_and_writes_nothing(generator: Generator) -> None:
    cancel = threading.Event()

    def on_step(event: StepProgress) -> None:
        if event.step == 2:
            cancel.set()

    with pytest.raises(Cancelled):
        generator.generate(_req("text2img", steps=6), on_step=on_step, cancel=cancel)
    assert generator.library.runs.count_outputs() == 0


def test_thread_count_is_applied_and_recorded(generator: Generator) -> None:
    import torch

    before = torch.get_num_threads()
    [out] = generator.generate(_req("text2img", threads=1))
    record = json.loads(generator.library.runs.get_output(out.output_id).record_json)  # type: ignore[union-attr]
    assert record["request"]["threads"] == 1
    assert record["environment"]["threads"] == 1
    assert torch.get_num_threads() == before  # restored after the run


def test_small_cpu_work_defaults_to_one_thread(generator: Generator) -> None:
    """Below 256x256 pixels a CPU run gets one thread unless asked; the count is recorded."""
    import torch

    def threads(**kw: object) -> int | None:
        return generator.prepare(_req("text2img", device="cpu", **kw)).request.threads

    assert threads() == 1  # the demo model's native 64x64
    assert threads(width=128, height=128) == 1
    assert threads(width=256, height=256) == torch.get_num_threads()
    assert threads(batch_size=16) == torch.get_num_threads()  # 16 images of 64x64: 256x256
    assert threads(threads=2) == 2  # an explicit count always wins
    [out] = generator.generate(_req("text2img", device="cpu"))
    record = json.loads(generator.library.runs.get_output(out.output_id).record_json)  # type: ignore[union-attr]
    assert record["request"]["threads"] == record["environment"]["threads"] == 1


def test_defaults_come_from_the_model(generator: Generator) -> None:
    prepared = generator.prepare(GenerationRequest(task="text2img", model="demo:sd", prompt="x"))
    r = prepared.request
    assert (r.width, r.height, r.steps, r.scheduler) == (64, 64, 20, "ddim")
    assert r.seed is not None and r.device == "cpu" and r.dtype == "float32"


def test_scheduler_by_name_is_recorded(generator: Generator) -> None:
    [out] = generator.generate(_req("text2img", scheduler="dpmpp_2m_karras"))
    record = json.loads(generator.library.runs.get_output(out.output_id).record_json)  # type: ignore[union-attr]
    assert record["scheduler"]["class"] == "DPMSolverMultistepScheduler"
    assert record["scheduler"]["config"]["use_karras_sigmas"] is True


@pytest.mark.parametrize(
    "scheduler", ["ddim", "euler", "euler_a", "dpmpp_2m", "dpmpp_2m_karras", "unipc", "lcm"]
)
def test_every_named_scheduler_runs_and_records(generator: Generator, scheduler: str) -> None:
    [out] = generator.generate(_req("text2img", steps=2, scheduler=scheduler))
    record = json.loads(generator.library.runs.get_output(out.output_id).record_json)  # type: ignore[union-attr]
    assert record["scheduler"]["name"] == scheduler
