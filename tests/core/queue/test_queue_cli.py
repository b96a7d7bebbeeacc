"""`atelier queue ...` as a user types it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.cli.main import main


def _json(capsys: pytest.CaptureFixture[str], *argv: str) -> object:
    capsys.readouterr()  # only this command's output
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def test_queue_add_list_move_cancel_retry_clear(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = ["--home", str(tmp_path / "home")]
    ids = []
    for prompt in ("first", "second", "third"):
        added = _json(capsys, *home, "queue", "add", "--model", "demo:sd", "--prompt", prompt,
                      "--steps", "2", "--json")  # fmt: skip
        ids.append(added["job_id"])  # type: ignore[index]
    listed = _json(capsys, *home, "queue", "list", "--json")
    assert [j["id"] for j in listed] == ids  # type: ignore[index]
    assert all(isinstance(j["request"]["seed"], int) for j in listed)  # type: ignore[index]

    assert main([*home, "queue", "move", str(ids[2]), "--to", "1"]) == 0
    assert main([*home, "queue", "cancel", str(ids[1])]) == 0
    assert "cancelled" in capsys.readouterr().out
    queued = _json(capsys, *home, "queue", "list", "--status", "queued", "--json")
    assert [j["id"] for j in queued] == [ids[2], ids[0]]  # type: ignore[index]

    assert main([*home, "queue", "pause"]) == 0
    assert main([*home, "queue", "run", "--until-empty"]) == 0  # paused: runs nothing
    assert main([*home, "queue", "resume"]) == 0
    assert main([*home, "queue", "retry", str(ids[1])]) == 0
    assert main([*home, "queue", "run", "--until-empty"]) == 0
    done = _json(capsys, *home, "queue", "list", "--status", "done", "--json")
    assert sorted(j["id"] for j in done) == sorted(ids)  # type: ignore[index]
    history = _json(capsys, *home, "history", "list", "--json")
    assert sorted(h["prompt"] for h in history) == ["first", "second", "third"]  # type: ignore[index]

    assert main([*home, "queue", "clear", "--done"]) == 0
    assert _json(capsys, *home, "queue", "list", "--json") == []
    assert len(_json(capsys, *home, "history", "list", "--json")) == 3  # type: ignore[arg-type]


def test_queue_commands_on_unknown_jobs_say_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = ["--home", str(tmp_path / "home")]
    assert main([*home, "queue", "cancel", "42"]) == 2
    assert "no job 42" in capsys.readouterr().err
    assert main([*home, "queue", "add", "--model", "demo:sd", "--width", "30"]) == 2
    assert "multiple of 8" in capsys.readouterr().err
    nowhere, out = str(tmp_path / "nowhere"), str(tmp_path / "out")
    batch = ["batch", nowhere, "--task", "img2img", "--model", "demo:sd", "--out", out]
    assert main([*home, *batch]) == 2
    assert "nowhere: not a folder" in capsys.readouterr().err


def test_queue_list_shows_each_jobs_final_seed_before_it_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = ("--home", str(tmp_path / "home"))
    added = _json(capsys, *home, "queue", "add", "--model", "demo:sd", "--prompt", "a", "--json")
    assert main([*home, "queue", "list"]) == 0
    assert f"seed {added['seed']}" in capsys.readouterr().out  # type: ignore[index]
