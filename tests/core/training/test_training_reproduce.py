"""`atelier reproduce --training-run`: a training run trained again gives the recorded weights'
fingerprint, registers nothing, and refuses (naming the file) when an instance image changed."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from core.cli.main import main
from core.library import Library
from core.training.reproduce import find_training_run, reproduce_training
from core.training.run import train
from core.training.spec import TrainingSpec
from training.subject import render_instances


def test_reproducing_a_lora_run_matches_its_fingerprint_and_a_changed_image_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    images = tmp_path / "images"
    render_instances(images)
    home = ["--home", str(tmp_path / "home")]
    args = [*home, "train", "lora", "--base", "demo:sd", "--images", str(images)]
    args += ["--prompt", "a zxq star", "--name", "zxq", "--steps", "4", "--seed", "5"]
    args += ["--batch-size", "2", "--lr", "1e-2", "--threads", "1", "--run", "--json"]
    assert main(args) == 0
    variant = json.loads(capsys.readouterr().out)
    run_id = variant["training_run"]
    assert main([*home, "models", "list", "--json"]) == 0
    listed = {v["name"]: v for v in json.loads(capsys.readouterr().out)}
    assert listed["zxq"]["training_run"] == run_id

    assert main([*home, "reproduce", "--training-run", str(run_id), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["status"] == "match"
    assert report["fingerprint"] == report["recorded_fingerprint"] == variant["fingerprint"]
    assert report["training_run"] == run_id and report["variant"] == "zxq"
    # nothing was added: the one variant, its one file, no leftover working folder
    assert main([*home, "models", "list", "--json"]) == 0
    assert [v["name"] for v in json.loads(capsys.readouterr().out) if not v["builtin"]] == ["zxq"]
    assert [p.name for p in (tmp_path / "home" / "trained").iterdir()] == ["zxq.safetensors"]
    assert not any((tmp_path / "home" / "training").iterdir())

    changed = images / "subject-2.png"
    render_instances(tmp_path / "other", seed=9)
    changed.write_bytes((tmp_path / "other" / "subject-2.png").read_bytes())
    assert main([*home, "reproduce", "--training-run", "zxq"]) == 2  # by the variant's name
    err = capsys.readouterr().err
    assert f"{changed}: changed since training run {run_id} was trained" in err


def test_a_dreambooth_run_with_class_images_reproduces_and_a_different_lr_does_not(
    library: Library, subject_images: Path
) -> None:
    spec = TrainingSpec(
        method="dreambooth",
        base="demo:sd",
        images=str(subject_images),
        prompt="a zxq star",
        name="zxq-db",
        steps=2,
        seed=3,
        batch_size=2,
        class_prompt="a star",
        class_images=2,
        threads=1,
    )
    variant = train(spec, library)
    run = find_training_run(library, "zxq-db")
    assert run.id == variant.training_run
    report = reproduce_training(library, run)
    assert (report.status, report.fingerprint) == ("match", variant.fingerprint)
    assert report.differences == []  # same machine, same environment

    untrue = dataclasses.replace(run, spec={**run.spec, "lr": 1e-3})  # a record that lies
    mismatch = reproduce_training(library, untrue)
    assert mismatch.status == "mismatch" and mismatch.recorded_fingerprint == variant.fingerprint
    assert any("resolves differently" in note for note in mismatch.notes)
