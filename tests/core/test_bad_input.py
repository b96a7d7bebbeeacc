"""Bad input gets a clear message naming the file or field, and nothing is written."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from core.errors import AtelierError, BadInput, ModelError
from core.generation import Generator
from core.request import GenerationRequest


def _nothing_written(generator: Generator) -> None:
    assert generator.library.runs.count_outputs() == 0
    outputs = [p for p in generator.library.store.root.rglob("*.png") if p.stat().st_size]
    # inputs may be stored before the failure is found; no output asset is
    assert all(generator.library.assets.get(p.stem).role != "output" for p in outputs)  # type: ignore[union-attr]


def _fails(
    generator: Generator, request: GenerationRequest, error: type[AtelierError], *words: str
) -> str:
    with pytest.raises(error) as info:
        generator.generate(request)
    message = str(info.value)
    for word in words:
        assert word in message, message
    _nothing_written(generator)
    return message


def test_missing_init_image(generator: Generator, tmp_path: Path) -> None:
    missing = tmp_path / "nope.png"
    _fails(
        generator,
        GenerationRequest("img2img", "demo:sd", "x", init_image=str(missing)),
        BadInput,
        "init_image",
        "nope.png",
        "not found",
    )


def test_a_text_file_is_not_an_image(generator: Generator, tmp_path: Path) -> None:
    fake = tmp_path / "notes.png"
    fake.write_text("hello")
    _fails(
        generator,
        GenerationRequest("img2img", "demo:sd", "x", init_image=str(fake)),
        BadInput,
        "notes.png",
        "not an image",
    )


def test_a_truncated_image(generator: Generator, tmp_path: Path, init_png: Path) -> None:
    cut = tmp_path / "cut.png"
    data = init_png.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    _fails(
        generator,
        GenerationRequest("img2img", "demo:sd", "x", init_image=str(cut)),
        BadInput,
        "cut.png",
        "truncated",
    )


def test_mask_of_another_size(generator: Generator, tmp_path: Path, init_png: Path) -> None:
    mask = tmp_path / "small-mask.png"
    Image.new("L", (32, 32), 255).save(mask)
    _fails(
        generator,
        GenerationRequest("inpaint", "demo:sd", "x", init_image=str(init_png), mask=str(mask)),
        BadInput,
        "mask",
        "small-mask.png",
        "32x32",
        "64x64",
    )


@pytest.mark.parametrize(("field", "value"), [("width", 100), ("height", 60)])
def test_size_not_a_multiple_of_8(generator: Generator, field: str, value: int) -> None:
    _fails(
        generator,
        GenerationRequest("text2img", "demo:sd", "x", **{field: value}),
        BadInput,  # type: ignore[arg-type]
        field,
        "multiple of 8",
    )


def test_unknown_model(generator: Generator) -> None:
    _fails(
        generator, GenerationRequest("text2img", "no-such-model", "x"), ModelError, "no-such-model"
    )


def test_unknown_demo_model(generator: Generator) -> None:
    _fails(
        generator,
        GenerationRequest("text2img", "demo:nope", "x"),
        ModelError,
        "demo:nope",
        "demo:sd",
    )


def test_unknown_scheduler(generator: Generator) -> None:
    _fails(
        generator,
        GenerationRequest("text2img", "demo:sd", "x", scheduler="fastest"),
        BadInput,
        "scheduler",
        "fastest",
        "euler_a",
    )


def test_unknown_task(generator: Generator) -> None:
    _fails(
        generator, GenerationRequest("paint", "demo:sd", "x"), BadInput, "task", "paint", "text2img"
    )


def test_a_task_the_model_cannot_do(generator: Generator, init_png: Path, tmp_path: Path) -> None:
    mask = tmp_path / "m.png"
    Image.new("L", (64, 64), 255).save(mask)
    request = GenerationRequest(
        "inpaint", "demo:sd-upscale", "x", init_image=str(init_png), mask=str(mask)
    )
    _fails(generator, request, ModelError, "demo:sd-upscale", "upscale-x4", "cannot do inpaint")


def test_ckpt_refused_unless_allowed(generator: Generator, tmp_path: Path) -> None:
    ckpt = tmp_path / "model.ckpt"
    ckpt.write_bytes(b"\x80\x04pickle")
    _fails(
        generator, GenerationRequest("text2img", str(ckpt), "x"), ModelError, "model.ckpt", "pickle"
    )


def test_corrupt_weights_file(generator: Generator, tmp_path: Path, demo_dir: Path) -> None:
    import shutil

    from core.models.demo import demo_model_path

    broken = tmp_path / "broken-model"
    shutil.copytree(demo_model_path("demo:sd"), broken)
    weights = broken / "unet" / "diffusion_pytorch_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    _fails(
        generator,
        GenerationRequest("text2img", str(broken), "x"),
        ModelError,
        "diffusion_pytorch_model.safetensors",
    )


def test_lora_file_missing(generator: Generator, tmp_path: Path) -> None:
    request = GenerationRequest.from_dict(
        {"task": "text2img", "model": "demo:sd", "loras": [str(tmp_path / "style.safetensors:0.8")]}
    )
    assert request.loras[0].weight == 0.8
    _fails(generator, request, BadInput, "loras", "style.safetensors", "not found")


def test_request_json_with_a_wrong_type_names_the_field() -> None:
    with pytest.raises(BadInput, match="steps"):
        GenerationRequest.from_dict({"task": "text2img", "model": "demo:sd", "steps": "many"})
    with pytest.raises(BadInput, match="colour"):
        GenerationRequest.from_dict({"task": "text2img", "model": "demo:sd", "colour": "red"})


def test_too_many_steps(generator: Generator) -> None:
    request = GenerationRequest("text2img", "demo:sd", "x", steps=1000)
    _fails(generator, request, BadInput, "steps", "1..500")
