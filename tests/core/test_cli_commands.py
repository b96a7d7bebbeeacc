"""The command line's shape (a module per command, registered once), the built-in models in
`models list`, the first failure named by every command that runs jobs, and a quiet first run."""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from core.cli.main import COMMANDS, build_parser, main
from core.engine.quiet import QUIET_ENV, VERBOSE_ENV
from core.models.demo import DEMO_MODELS

CLI_DIR = Path(__file__).resolve().parents[2] / "core" / "cli"


def test_every_command_module_is_registered_and_has_the_same_shape() -> None:
    found = sorted(p.stem for p in CLI_DIR.glob("cmd_*.py"))
    registered = sorted(m.__name__.rsplit(".", 1)[1] for m in COMMANDS)  # type: ignore[attr-defined]
    assert registered == found
    for name in found:
        module = importlib.import_module(f"core.cli.{name}")
        assert callable(module.add_parser) and callable(module.run), name


def test_every_command_parses_to_a_handler_and_home_goes_after_it(tmp_path: Path) -> None:
    parser = build_parser()
    args = parser.parse_args(["models", "list", "--home", str(tmp_path), "--verbose"])
    assert args.home == tmp_path and args.verbose and callable(args.func)
    for argv in (["history", "list"], ["queue", "run"], ["gui"], []):
        assert callable(parser.parse_args(argv).func), argv


def _hex64(value: object) -> bool:
    return isinstance(value, str) and re.fullmatch("[0-9a-f]{64}", value) is not None


def test_models_list_on_a_fresh_library_shows_the_built_in_models(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = ["--home", str(tmp_path / "home")]
    assert main([*home, "models", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [m["name"] for m in listed] == list(DEMO_MODELS)
    assert all(m["builtin"] and _hex64(m["fingerprint"]) for m in listed)
    kinds = {m["name"]: m["kind"] for m in listed}
    assert kinds["demo:sdxl-refiner"] == "sdxl-refiner" and kinds["demo:sd-depth"] == "depth"
    # the same fingerprint as the model gets when added to the library under a name
    assert main([*home, "models", "add", "demo:sd", "--name", "shapes"]) == 0
    capsys.readouterr()
    assert main([*home, "models", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("shapes ") and "demo: demo:sd" in lines[0]
    demo_sd = next(m for m in listed if m["name"] == "demo:sd")
    assert demo_sd["fingerprint"][:12] in lines[0]
    assert lines[1].startswith("demo:sd ") and lines[1].endswith("built-in")
    assert len(lines) == 1 + len(DEMO_MODELS)


def test_demo_with_missing_resources_names_the_folder_it_looked_in(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "no-resources"
    empty.mkdir()
    monkeypatch.setenv("ATELIER_RESOURCES", str(empty))
    argv = ["--home", str(tmp_path / "home"), "demo", "--out", str(tmp_path / "out")]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert f"atelier: error: job 1 failed: {empty / 'models' / 'demo-sd'}" in err
    assert "weights are missing" in err and "did not finish" not in err


@pytest.mark.parametrize("command", ["queue run", "grid", "batch --run"])
def test_commands_that_run_jobs_end_with_the_first_failure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    home = ["--home", str(tmp_path / "home")]
    bad = ["--model", "demo:nope", "--prompt", "a red circle", "--steps", "1"]
    if command == "queue run":
        assert main([*home, "queue", "add", *bad]) == 0
        argv = ["queue", "run", "--until-empty"]
    elif command == "grid":
        argv = ["grid", *bad, "--x", "cfg=1,2"]
    else:
        inputs = tmp_path / "in"
        inputs.mkdir()
        for name in ("a", "b"):
            Image.new("RGB", (64, 64), (200, 30, 30)).save(inputs / f"{name}.png")
        argv = ["batch", str(inputs), *bad, "--task", "img2img", "--out", str(tmp_path / "out")]
        argv.append("--run")
    capsys.readouterr()
    assert main([*home, *argv]) == 1
    err = capsys.readouterr().err
    assert "atelier: error: job 1 failed: demo:nope: unknown demo model" in err
    if command != "queue run":
        assert "(1 other job failed too)" in err


def _user_env() -> dict[str, str]:
    """This environment less what an in-process `main` call set to quiet the libraries."""
    return {k: v for k, v in os.environ.items() if k not in (*QUIET_ENV, VERBOSE_ENV)}


def _generate(demo_dir: Path, home: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """`atelier generate` in a process of its own, with demo models built afresh in demo_dir."""
    argv = ["--home", str(home), "generate", "--model", "demo:sd", "--prompt", "a red circle"]
    return subprocess.run(
        [sys.executable, "-m", "core.cli.main", *argv, "--steps", "2", "--seed", "1", *extra],
        capture_output=True,
        text=True,
        timeout=300,
        env={**_user_env(), "ATELIER_DEMO_DIR": str(demo_dir)},
    )


NOISE = ("Loading pipeline components", "Writing model shards", "FutureWarning", "torchvision")


@pytest.mark.slow
def test_a_first_run_shows_only_atelier_s_own_progress(tmp_path: Path) -> None:
    quiet = _generate(tmp_path / "demo-models", tmp_path / "home")
    assert quiet.returncode == 0, quiet.stderr
    assert "step 2/2" in quiet.stderr
    assert [n for n in NOISE if n in quiet.stderr] == [], quiet.stderr


@pytest.mark.slow
def test_verbose_shows_the_libraries_output(tmp_path: Path) -> None:
    loud = _generate(tmp_path / "demo-models", tmp_path / "home", "--verbose")
    assert loud.returncode == 0, loud.stderr
    assert "Loading pipeline components" in loud.stderr and "Writing model shards" in loud.stderr


def test_reproduce_names_the_first_output_it_could_not_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    from core.models.demo import demo_model_path

    home = ["--home", str(tmp_path / "home")]
    folder = tmp_path / "my-model"
    shutil.copytree(demo_model_path("demo:sd"), folder)
    assert main([*home, "models", "add", str(folder), "--name", "mine"]) == 0
    assert main([*home, "generate", "--model", "mine", "--steps", "1", "--seed", "3"]) == 0
    shutil.rmtree(folder)
    assert main([*home, "models", "remove", "mine"]) == 0
    capsys.readouterr()
    assert main([*home, "reproduce", "1", "--json"]) == 1
    out, err = capsys.readouterr()
    [report] = json.loads(out)
    assert report["status"] in ("failed", "missing")
    assert err.startswith("atelier: error: output 1: ") and report["notes"][0] in err


def test_without_the_desktop_package_the_window_command_says_so(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["gui"]) == 1 and main([]) == 1
    assert "the desktop GUI is not installed here" in capsys.readouterr().err
