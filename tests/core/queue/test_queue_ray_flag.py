"""`atelier queue run --ray` without Ray installed says how to get it (exit code 2)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from core.cli.main import main


def test_ray_flag_without_ray_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    code = main(["queue", "run", "--ray", "--until-empty", "--home", str(tmp_path / "home")])
    err = capsys.readouterr().err
    assert code == 2
    assert "--ray" in err and "pip install 'atelier[ray]'" in err
    assert not (tmp_path / "home").exists()  # refused before the library was touched
