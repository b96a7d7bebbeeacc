"""Mixed precision and gradient checkpointing: what they change in a run, and what they don't."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from core.cli.main import main
from core.errors import BadInput
from core.library import Library
from core.training.precision import Precision
from core.training.run import train
from core.training.spec import TrainingSpec

# A spec recorded before mixed_precision and gradient_checkpointing existed, and its hash then.
OLD_SPEC = {
    "version": 1,
    "method": "lora",
    "base": "demo:sd",
    "images": "/x",
    "prompt": "a zxq star",
    "name": "zxq",
    "steps": 6,
    "seed": 7,
    "class_prompt": None,
    "token": None,
    "initializer": None,
    "rank": 4,
    "alpha": None,
    "lr": None,
    "lr_schedule": "constant",
    "warmup_steps": 0,
    "resolution": None,
    "batch_size": 1,
    "grad_accumulation": 1,
    "train_text_encoder": False,
    "prior_weight": 1.0,
    "class_images": 0,
    "checkpoint_every": 0,
    "threads": None,
    "device": None,
}
OLD_HASH = "e65457fb7bf1627f089b7cadb5083715792eeff90055d1b5af0aaf8ae61d5b13"


def test_a_spec_recorded_before_the_new_fields_loads_and_keeps_its_hash() -> None:
    spec = TrainingSpec.from_dict(OLD_SPEC)
    assert (spec.mixed_precision, spec.gradient_checkpointing) == ("no", False)
    assert spec.hash() == OLD_HASH  # the same run folder, the same resume
    changed = dataclasses.replace(spec, gradient_checkpointing=True)
    assert changed.to_dict()["gradient_checkpointing"] is True and changed.hash() != OLD_HASH


def test_fp16_on_the_cpu_and_an_unknown_precision_are_refused_naming_the_field(
    tmp_path: Path, subject_images: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--home", str(tmp_path / "home"), "train", "lora", "--base", "demo:sd"]
    args += ["--images", str(subject_images), "--prompt", "a zxq star", "--name", "zxq"]
    args += ["--steps", "2", "--seed", "1", "--device", "cpu"]
    assert main([*args, "--mixed-precision", "fp16"]) == 2
    err = capsys.readouterr().err
    assert "mixed_precision" in err and "fp16 trains on CUDA only" in err
    spec = TrainingSpec("lora", "demo:sd", str(subject_images), "a zxq star", "z", 2, 1)
    with pytest.raises(BadInput, match=r"mixed_precision.*expected one of no, fp16, bf16"):
        dataclasses.replace(spec, mixed_precision="fp8").validate()


def _spec(images: Path, method: str, **changes: object) -> TrainingSpec:
    return TrainingSpec(
        method=method,
        base="demo:sd",
        images=str(images),
        prompt="a zxq star",
        name=f"zxq-{len(changes)}-{'-'.join(str(v) for v in changes.values())}",
        steps=4,
        seed=7,
        batch_size=2,
        lr=1e-2 if method == "lora" else 2e-4,
        threads=1,
        **changes,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("method", ["lora", "dreambooth"])
def test_gradient_checkpointing_ends_with_the_same_weights(
    library: Library, subject_images: Path, method: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch.utils.checkpoint

    recomputed = []  # a spy: the real checkpoint function runs, each call is counted
    real = torch.utils.checkpoint.checkpoint

    def counted(*args: object, **kwargs: object) -> object:
        recomputed.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(torch.utils.checkpoint, "checkpoint", counted)
    plain = train(_spec(subject_images, method), library)
    assert not recomputed
    checkpointed = train(_spec(subject_images, method, gradient_checkpointing=True), library)
    assert recomputed  # the UNet's blocks did go through activation checkpointing
    # the names differ, and a LoRA's name is in its file: compare the weights themselves
    assert _weights(plain.path) == _weights(checkpointed.path)
    run = library.training_runs.for_variant(checkpointed.name)
    assert run is not None and run.spec["gradient_checkpointing"] is True


def test_bf16_trains_on_the_cpu_and_is_recorded(library: Library, subject_images: Path) -> None:
    plain = train(_spec(subject_images, "lora"), library)
    bf16 = train(_spec(subject_images, "lora", mixed_precision="bf16"), library)
    assert _weights(bf16.path) != _weights(plain.path)  # autocast really ran in bfloat16
    run = library.training_runs.for_variant(bf16.name)
    assert run is not None and run.spec["mixed_precision"] == "bf16"
    assert all(loss == loss for loss in run.record["losses"])  # no NaN


def test_the_fp16_scaler_skips_an_overflowing_step_and_resumes_with_its_scale() -> None:
    """fp16's gradient scaler, run on the CPU (the same code CUDA runs)."""
    import torch

    layer = torch.nn.Linear(2, 1)
    optimizer = torch.optim.AdamW(layer.parameters(), lr=0.1)
    precision = Precision("fp16", "cpu")
    before = layer.weight.detach().clone()
    with precision.autocast():
        loss = layer(torch.tensor([[float("inf"), 1.0]])).float().sum()
    precision.backward(loss)
    precision.step(optimizer, list(layer.parameters()), 1.0)
    assert torch.equal(layer.weight, before)  # overflow: no step taken
    saved = precision.state_dict()
    assert saved["scale"] == 65536.0 / 2
    again = Precision("fp16", "cpu")
    again.load_state_dict(saved)
    assert again.state_dict() == saved


def _weights(path: str) -> dict[str, bytes]:
    """Every tensor's bytes, by name, of a trained file or folder."""
    from safetensors import safe_open

    files = sorted(Path(path).rglob("*.safetensors")) if Path(path).is_dir() else [Path(path)]
    found = {}
    for file in files:
        with safe_open(file, "pt") as f:
            for key in f.keys():  # noqa: SIM118
                found[f"{file.relative_to(path) if file != Path(path) else ''}:{key}"] = (
                    f.get_tensor(key).numpy().tobytes()
                )
    return found
