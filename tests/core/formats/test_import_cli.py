"""`atelier import-png`: every file reported, bad ones named on stderr, exit 1 if any failed."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
from PIL import Image

from core.cli.cmd_import import add_parser, run
from core.formats.png import write_png

INFOTEXT = (
    "a red fox\nNegative prompt: blurry\n"
    "Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 99, Size: 512x512, Hires upscale: 2"
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    parser.add_argument("--home")
    sub = parser.add_subparsers(dest="command")
    add_parser(sub)
    return parser


def _files(tmp_path: Path) -> tuple[Path, Path]:
    good = tmp_path / "good.png"
    write_png(Image.new("RGB", (8, 8)), good, {"parameters": INFOTEXT})
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    return good, bad


def test_one_good_one_bad_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good, bad = _files(tmp_path)
    args = _parser().parse_args(
        ["--home", str(tmp_path / "home"), "import-png", str(bad), str(good)]
    )
    assert run(args) == 1
    out, err = capsys.readouterr()
    assert f"{good}: a1111" in out
    assert '"prompt":"a red fox"' in out and '"scheduler":"euler_a"' in out
    assert "Hires upscale: 2" in out
    assert err.startswith(f"atelier: error: {bad}: ")
    assert "Traceback" not in err


def test_json_output_and_exit_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good, _ = _files(tmp_path)
    args = _parser().parse_args(
        ["--home", str(tmp_path / "home"), "import-png", str(good), "--json"]
    )
    assert run(args) == 0
    data = json.loads(capsys.readouterr().out)
    assert [d["format"] for d in data] == ["a1111"]
    assert data[0]["path"] == str(good)
    assert data[0]["request"]["seed"] == 99
    assert data[0]["unmapped"] == ["Hires upscale: 2"]
    assert data[0]["field_sources"]["seed"] == "A1111 infotext Seed"
    assert data[0]["formats_found"] == ["a1111"]
    assert (data[0]["runnable"], data[0]["not_runnable_reason"]) == (True, "")
    assert data[0]["request"]["model"] == "unknown"
    assert any("names no model" in n for n in data[0]["notes"])


def test_import_png_queue_adds_a_job_with_the_recorded_request(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from core.cli.main import main

    home = ["--home", str(tmp_path / "home")]
    argv = [
        "generate",
        "--model",
        "demo:sd",
        "--prompt",
        "a red circle",
        "--seed",
        "9",
        "--steps",
        "2",
    ]
    assert main([*home, *argv, "--json"]) == 0
    [made] = json.loads(capsys.readouterr().out)
    assert main([*home, "import-png", made["path"], "--queue", "--json"]) == 0
    [imported] = json.loads(capsys.readouterr().out)
    assert any("queued as job" in note for note in imported["notes"])
    assert main([*home, "queue", "list", "--json"]) == 0
    [job] = json.loads(capsys.readouterr().out)
    assert job["request"]["prompt"] == "a red circle" and job["request"]["seed"] == 9


def test_queue_refuses_an_image_imported_for_reference(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flux = tmp_path / "flux.png"
    infotext = "a fox\nSteps: 20, Seed: 1, CFG scale: 1, Size: 512x512, Model: flux1-dev"
    write_png(Image.new("RGB", (8, 8)), flux, {"parameters": infotext})
    home = tmp_path / "home"
    args = _parser().parse_args(["--home", str(home), "import-png", str(flux), "--queue"])
    assert run(args) == 1
    out, err = capsys.readouterr()
    assert "imported for reference, cannot be run: it was made with Flux" in out
    assert err == (
        f"atelier: error: {flux}: not queued: imported for reference, cannot be run: "
        "it was made with Flux, which Atelier cannot run\n"
    )
    from core.cli.main import main

    assert main(["--home", str(home), "queue", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_text_output_says_where_each_field_came_from(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good, _ = _files(tmp_path)
    args = _parser().parse_args(["--home", str(tmp_path / "home"), "import-png", str(good)])
    assert run(args) == 0
    out = capsys.readouterr().out
    assert "  fields from:\n" in out
    assert "    seed: A1111 infotext Seed\n" in out
    assert "    cfg_scale: A1111 infotext CFG scale\n" in out
