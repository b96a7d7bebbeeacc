"""`atelier train` as a user runs it, and the trained variant in `atelier models list`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.cli.main import main


def test_train_lora_then_list_and_use_it_by_name(
    tmp_path: Path, subject_images: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = str(tmp_path / "home")
    common = ["--home", home, "train", "lora", "--base", "demo:sd", "--images"]
    args = [*common, str(subject_images), "--prompt", "a zxq star", "--name", "zxq"]
    args += ["--steps", "3", "--seed", "5", "--batch-size", "2"]
    assert main([*args, "--run", "--json"]) == 0
    out = capsys.readouterr()
    variant = json.loads(out.out)
    assert variant["kind"] == "lora" and Path(variant["path"]).is_file()
    assert "step 3/3" in out.err and "it/s" in out.err

    assert main(["--home", home, "models", "list", "--json"]) == 0
    listed = {v["name"]: v for v in json.loads(capsys.readouterr().out)}
    assert listed["zxq"]["kind"] == "lora" and listed["zxq"]["base"] == "demo:sd"
    assert listed["zxq"]["fingerprint"] == variant["fingerprint"]

    assert main([*args, "--run"]) == 2  # the name is taken now
    assert "'zxq' is already a model" in capsys.readouterr().err

    generate = ["--home", home, "generate", "--model", "demo:sd", "--prompt", "a zxq star"]
    assert main([*generate, "--seed", "1", "--lora", "zxq:0.8", "--json"]) == 0
    made = json.loads(capsys.readouterr().out)
    assert len(made) == 1
