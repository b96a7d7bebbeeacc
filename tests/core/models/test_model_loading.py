"""Loading pipelines offline: every kind from a folder, an original-layout single file, a VAE."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ldm_checkpoint import convert_folder, write_checkpoint

from core.errors import ModelError
from core.models.demo import demo_model_path
from core.models.loading import load_pipeline, load_vae

PIPELINES = {
    "demo:sd": ("sd2", "StableDiffusionPipeline"),
    "demo:sd-inpaint": ("inpaint", "StableDiffusionInpaintPipeline"),
    "demo:sd-depth": ("depth", "StableDiffusionDepth2ImgPipeline"),
    "demo:sd-upscale": ("upscale-x4", "StableDiffusionUpscalePipeline"),
    "demo:sdxl": ("sdxl", "StableDiffusionXLPipeline"),
    "demo:sdxl-refiner": ("sdxl-refiner", "StableDiffusionXLImg2ImgPipeline"),
}
COMPONENTS = ("unet", "vae", "text_encoder")


@pytest.fixture(scope="module")
def sd_pipe(sd_folder: Path) -> Any:
    return load_pipeline(sd_folder, "sd1", source_type="demo", config=None)


def assert_same_weights(a: Any, b: Any) -> None:
    import torch

    for name in COMPONENTS:
        left, right = getattr(a, name).state_dict(), getattr(b, name).state_dict()
        assert left.keys() == right.keys(), name
        differ = [k for k in left if not torch.equal(left[k], right[k])]
        assert not differ, f"{name}: {differ[:3]}"


@pytest.mark.parametrize(("name", "expected"), PIPELINES.items())
def test_every_demo_kind_loads_its_pipeline(
    demo_models: Path, name: str, expected: tuple[str, str]
) -> None:
    kind, class_name = expected
    pipe = load_pipeline(demo_model_path(name), kind, source_type="demo", config=None)
    assert type(pipe).__name__ == class_name
    assert getattr(pipe, "safety_checker", None) is None


def test_single_file_loads_bit_exact(sd_folder: Path, sd_pipe: Any, tmp_path: Path) -> None:
    checkpoint = write_checkpoint(sd_folder, tmp_path / "tiny-sd.safetensors")
    pipe = load_pipeline(checkpoint, "sd1", source_type="single_file", config=sd_folder)
    assert type(pipe).__name__ == "StableDiffusionPipeline"
    assert_same_weights(pipe, sd_pipe)


def test_single_file_weights_come_from_the_file(
    sd_folder: Path, sd_pipe: Any, tmp_path: Path
) -> None:
    """Negated weights in the file load negated: nothing was taken from the config folder."""
    import torch
    from safetensors.torch import save_file

    state = {k: (-v).contiguous() for k, v in convert_folder(sd_folder).items()}
    save_file(state, str(tmp_path / "negated.safetensors"))
    pipe = load_pipeline(
        tmp_path / "negated.safetensors", "sd1", source_type="single_file", config=sd_folder
    )
    for name in COMPONENTS:
        loaded, original = getattr(pipe, name).state_dict(), getattr(sd_pipe, name).state_dict()
        assert all(torch.equal(loaded[k], -original[k]) for k in original), name


def test_single_file_without_config_is_refused(sd_folder: Path, tmp_path: Path) -> None:
    checkpoint = write_checkpoint(sd_folder, tmp_path / "tiny-sd.safetensors")
    with pytest.raises(ModelError, match="needs a local config folder"):
        load_pipeline(checkpoint, "sd1", source_type="single_file", config=None)


def test_corrupt_single_file_is_named(sd_folder: Path, tmp_path: Path) -> None:
    checkpoint = write_checkpoint(sd_folder, tmp_path / "tiny-sd.safetensors")
    checkpoint.write_bytes(checkpoint.read_bytes()[: checkpoint.stat().st_size // 2])
    with pytest.raises(ModelError) as corrupt:
        load_pipeline(checkpoint, "sd1", source_type="single_file", config=sd_folder)
    assert str(corrupt.value).startswith(f"{checkpoint}: corrupt or truncated safetensors")


def test_corrupt_file_in_a_folder_is_named(sd_copy: Path) -> None:
    vae = sd_copy / "vae" / "diffusion_pytorch_model.safetensors"
    vae.write_bytes(vae.read_bytes()[:1000])
    with pytest.raises(ModelError) as corrupt:
        load_pipeline(sd_copy, "sd1", source_type="folder", config=None)
    assert str(corrupt.value).startswith(f"{vae}: corrupt or truncated safetensors")


def test_missing_component_names_the_folder(sd_copy: Path) -> None:
    for file in (sd_copy / "text_encoder").iterdir():
        file.unlink()
    with pytest.raises(ModelError) as broken:
        load_pipeline(sd_copy, "sd1", source_type="folder", config=None)
    assert str(broken.value).startswith(f"{sd_copy}: cannot load as kind sd1 (")


def test_wrong_kind_for_the_weights_is_a_model_error(sd_folder: Path, tmp_path: Path) -> None:
    checkpoint = write_checkpoint(demo_model_path("demo:sd-inpaint"), tmp_path / "inp.safetensors")
    with pytest.raises(ModelError, match="cannot load as kind sd1"):
        load_pipeline(checkpoint, "sd1", source_type="single_file", config=sd_folder)
    with pytest.raises(ModelError, match=r"cannot load as kind sdxl \(no text_encoder_2\)"):
        load_pipeline(sd_folder, "sdxl", source_type="folder", config=None)


def test_vae_override_from_a_folder_or_a_file(sd_folder: Path, sd_pipe: Any) -> None:
    import torch

    expected = sd_pipe.vae.state_dict()
    for path in (sd_folder, sd_folder / "vae"):
        vae = load_vae(path)
        assert type(vae).__name__ == "AutoencoderKL"
        assert all(torch.equal(v, expected[k]) for k, v in vae.state_dict().items())
    weights = sd_folder / "vae" / "diffusion_pytorch_model.safetensors"
    with pytest.raises(ModelError, match="needs a local config folder"):
        load_vae(weights)


def test_vae_override_from_an_original_layout_file(
    sd_folder: Path, sd_pipe: Any, tmp_path: Path
) -> None:
    import torch
    from safetensors.torch import save_file

    prefix = "first_stage_model."
    state = {
        k.removeprefix(prefix): v.contiguous()
        for k, v in convert_folder(sd_folder).items()
        if k.startswith(prefix)
    }
    save_file(state, str(tmp_path / "vae.safetensors"))
    vae = load_vae(tmp_path / "vae.safetensors", config=sd_folder)
    expected = sd_pipe.vae.state_dict()
    assert vae.state_dict().keys() == expected.keys()
    assert all(torch.equal(v, expected[k]) for k, v in vae.state_dict().items())
