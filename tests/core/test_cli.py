"""The `atelier` command line: as a user runs it (a real subprocess) and in-process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from core.cli.main import main
from core.formats.png import read_atelier_record


def atelier(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "core.cli.main", "--home", str(home), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> object:
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def test_help_lists_the_commands_without_loading_torch() -> None:
    code = "import sys; from core.cli.main import main\n"
    code += "try: main(['--help'])\nexcept SystemExit: pass\n"
    code += "assert 'torch' not in sys.modules and 'diffusers' not in sys.modules, 'heavy import'"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    for command in ("generate", "models", "history", "demo"):
        assert command in result.stdout


@pytest.mark.slow
def test_generate_in_a_real_process_prints_json_and_writes_files(tmp_path: Path) -> None:
    home, out = tmp_path / "home", tmp_path / "out"
    result = atelier(
        "generate", "--model", "demo:sd", "--prompt", "a red circle", "--seed", "5",
        "--steps", "3", "--batch", "2", "--out", str(out), "--json", home=home,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    outputs = json.loads(result.stdout)
    assert [o["seed"] for o in outputs] == [5, 6]
    assert set(outputs[0]) >= {"output_id", "run_id", "path", "seed", "sha256"}
    for o in outputs:
        assert Path(o["path"]).parent == out
        assert read_atelier_record(o["path"])["image"]["pixel_sha256"] == o["sha256"]  # type: ignore[index]
    assert "step 3/3" in result.stderr  # a progress bar


def test_bad_usage_exits_2_and_failed_work_exits_1(tmp_path: Path) -> None:
    home = tmp_path / "home"
    usage = atelier("generate", "--model", "demo:sd", "--width", "100", home=home)
    assert usage.returncode == 2 and "width" in usage.stderr and "multiple of 8" in usage.stderr
    missing = atelier("generate", "--model", "demo:nope", home=home)
    assert missing.returncode == 1 and "demo:nope" in missing.stderr
    assert "Traceback" not in missing.stderr + usage.stderr


def test_history_list_and_show(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home = str(tmp_path / "home")
    made = run_json(
        capsys,
        "--home",
        home,
        "generate",
        "--model",
        "demo:sd",
        "--steps",
        "2",
        "--seed",
        "1",
        "--prompt",
        "a blue star",
        "--json",
    )
    listed = run_json(capsys, "--home", home, "history", "list", "--json")
    assert [o["output_id"] for o in listed] == [made[0]["output_id"]]  # type: ignore[index]
    assert listed[0]["prompt"] == "a blue star"  # type: ignore[index]
    shown = run_json(capsys, "--home", home, "history", "show", str(made[0]["output_id"]), "--json")  # type: ignore[index]
    assert shown["record"] == read_atelier_record(made[0]["path"])  # type: ignore[index]
    assert main(["--home", home, "history", "show", "999"]) == 2
    assert "no output 999" in capsys.readouterr().err


def test_models_add_list_verify(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    from core.models.demo import demo_model_path

    home = str(tmp_path / "home")
    folder = tmp_path / "my-model"
    shutil.copytree(demo_model_path("demo:sd"), folder)
    assert main(["--home", home, "models", "add", str(folder), "--name", "mine"]) == 0
    assert "added mine: sd2" in capsys.readouterr().out
    listed = run_json(capsys, "--home", home, "models", "list", "--json")
    assert listed[0]["name"] == "mine" and listed[0]["kind"] == "sd2"  # type: ignore[index]
    assert main(["--home", home, "models", "verify", "mine"]) == 0
    assert "ok" in capsys.readouterr().out
    # generate by the library name
    made = run_json(capsys, "--home", home, "generate", "--model", "mine", "--steps", "2", "--json")
    assert Path(made[0]["path"]).is_file()  # type: ignore[index]
    # a changed weight file is found
    weights = folder / "vae" / "diffusion_pytorch_model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    assert main(["--home", home, "models", "verify", "mine"]) == 1
    report = capsys.readouterr().out
    assert "CHANGED" in report and "changed components: vae" in report
    assert main(["--home", home, "models", "add", str(folder), "--name", "mine"]) == 2


@pytest.mark.slow
def test_demo_writes_every_task_into_a_named_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "demo-out"
    assert main(["--home", str(tmp_path / "home"), "demo", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert str(out) in printed
    names = {p.stem for p in out.glob("*.png")}
    assert {"text2img-1", "img2img", "inpaint", "depth", "upscale-x4", "sdxl-refined"} <= names
