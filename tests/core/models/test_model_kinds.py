"""Kind detection: from atelier.json, from diffusers configs alone, and from a checkpoint header."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from ldm_checkpoint import write_checkpoint

from core.errors import ModelError
from core.models.demo import demo_model_path
from core.models.kinds import check_safetensors, detect_kind

DEMO_KINDS = {
    "demo:sd": "sd2",
    "demo:sd-inpaint": "inpaint",
    "demo:sd-depth": "depth",
    "demo:sd-upscale": "upscale-x4",
    "demo:sdxl": "sdxl",
    "demo:sdxl-refiner": "sdxl-refiner",
}


def configs_only(folder: Path, dest: Path) -> Path:
    """A copy of a diffusers folder with its JSON configs only: no weights, no atelier.json."""
    shutil.copytree(
        folder,
        dest,
        ignore=lambda _dir, names: [
            n for n in names if n == "atelier.json" or n.endswith((".safetensors", ".txt"))
        ],
    )
    return dest


@pytest.mark.parametrize(("name", "kind"), DEMO_KINDS.items())
def test_demo_folder_kinds(demo_models: Path, tmp_path: Path, name: str, kind: str) -> None:
    folder = demo_model_path(name)
    assert detect_kind(folder) == kind
    # The same answer from the diffusers configs alone, without the atelier.json marker.
    assert detect_kind(configs_only(folder, tmp_path / "configs")) == kind


def test_sd2_from_cross_attention_or_v_prediction(sd_folder: Path, tmp_path: Path) -> None:
    folder = configs_only(sd_folder, tmp_path / "sd2")
    scheduler = folder / "scheduler" / "scheduler_config.json"
    config = json.loads(scheduler.read_text())
    scheduler.write_text(json.dumps({**config, "prediction_type": "v_prediction"}))
    assert detect_kind(folder) == "sd2"
    scheduler.write_text(json.dumps(config))
    unet = folder / "unet" / "config.json"
    unet.write_text(json.dumps({**json.loads(unet.read_text()), "cross_attention_dim": 1024}))
    assert detect_kind(folder) == "sd2"


def test_atelier_json_kind_wins(sd_folder: Path, tmp_path: Path) -> None:
    folder = configs_only(sd_folder, tmp_path / "marked")
    (folder / "atelier.json").write_text(json.dumps({"kind": "sd2"}))
    assert detect_kind(folder) == "sd2"
    (folder / "atelier.json").write_text(json.dumps({"kind": "sd9"}))
    with pytest.raises(ModelError, match="unknown kind 'sd9'"):
        detect_kind(folder)


def test_a_folder_that_is_no_model(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"no model_index\.json"):
        detect_kind(tmp_path)


@pytest.mark.parametrize(
    ("name", "from_tensors", "from_config"),
    # demo:sd predicts v, as SD 2.x: its tensors alone look like SD 1.x, its config says more.
    [("demo:sd", "sd1", "sd2"), ("demo:sd-inpaint", "inpaint", "inpaint")],
)
def test_single_file_checkpoint_kind(
    demo_models: Path, tmp_path: Path, name: str, from_tensors: str, from_config: str
) -> None:
    checkpoint = write_checkpoint(demo_model_path(name), tmp_path / "model.safetensors")
    assert detect_kind(checkpoint) == from_tensors
    # With a config folder, the folder says what the file is.
    assert detect_kind(checkpoint, config=demo_model_path(name)) == from_config


def _header_only(path: Path, shapes: dict[str, tuple[int, ...]]) -> Path:
    """A small checkpoint with the given tensor names and shapes (zeros): what the header shows."""
    import torch
    from safetensors.torch import save_file

    save_file({name: torch.zeros(shape) for name, shape in shapes.items()}, str(path))
    return path


CONV_IN = "model.diffusion_model.input_blocks.0.0.weight"
TO_K = "model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight"


@pytest.mark.parametrize(
    ("shapes", "kind"),
    [
        ({CONV_IN: (8, 4, 3, 3), TO_K: (8, 768)}, "sd1"),
        ({CONV_IN: (8, 4, 3, 3), TO_K: (8, 1024)}, "sd2"),
        ({CONV_IN: (8, 4, 3, 3), "cond_stage_model.model.token_embedding.weight": (4, 2)}, "sd2"),
        ({CONV_IN: (8, 9, 3, 3)}, "inpaint"),
        ({CONV_IN: (8, 5, 3, 3)}, "depth"),
        ({CONV_IN: (8, 7, 3, 3), "model.diffusion_model.label_emb.weight": (4, 2)}, "upscale-x4"),
        (
            {
                CONV_IN: (8, 4, 3, 3),
                "conditioner.embedders.0.transformer.text_model.final_layer_norm.weight": (2,),
                "conditioner.embedders.1.model.ln_final.weight": (2,),
            },
            "sdxl",
        ),
        (
            {CONV_IN: (8, 4, 3, 3), "conditioner.embedders.0.model.ln_final.weight": (2,)},
            "sdxl-refiner",
        ),
    ],
)
def test_kind_from_checkpoint_header(
    tmp_path: Path, shapes: dict[str, tuple[int, ...]], kind: str
) -> None:
    assert detect_kind(_header_only(tmp_path / "model.safetensors", shapes)) == kind


def test_a_vae_file_is_not_a_checkpoint(tmp_path: Path) -> None:
    vae = _header_only(tmp_path / "vae.safetensors", {"encoder.conv_in.weight": (8, 3, 3, 3)})
    with pytest.raises(ModelError, match="not a Stable Diffusion checkpoint"):
        detect_kind(vae)


# ---- corrupt files -------------------------------------------------------------------------
def test_truncated_safetensors_is_named(sd_folder: Path, tmp_path: Path) -> None:
    whole = sd_folder / "unet" / "diffusion_pytorch_model.safetensors"
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(whole.read_bytes()[:-100])
    check_safetensors(whole)
    with pytest.raises(ModelError) as corrupt:
        check_safetensors(cut)
    assert str(corrupt.value).startswith(f"{cut}: corrupt or truncated safetensors (")
    with pytest.raises(ModelError, match="corrupt or truncated"):
        detect_kind(cut)


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"\x05\x00",
        (10**12).to_bytes(8, "little") + b"{}",
        (4).to_bytes(8, "little") + b"nope",
        (2).to_bytes(8, "little") + b"[]",
        b"<html>not found</html>",
    ],
)
def test_garbage_is_corrupt_safetensors(tmp_path: Path, content: bytes) -> None:
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(content)
    with pytest.raises(ModelError, match=r"bad\.safetensors: corrupt or truncated safetensors"):
        check_safetensors(bad)
