"""`atelier desktop-entry install|uninstall` into a temporary XDG_DATA_HOME: a menu entry that
the freedesktop validators accept and that starts this installation's window."""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from core.cli.cmd_desktop_entry import APP_ID, ICON_SIZES
from core.cli.main import main
from core.paths import resources_dir


def _validators(*names: str) -> None:
    missing = [n for n in names if shutil.which(n) is None]
    if missing:
        pytest.skip(
            f"{', '.join(missing)} not installed (apt-get install desktop-file-utils appstream)"
        )


def test_install_then_uninstall_in_the_xdg_data_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "xdg data"  # a space, as in some home folders
    monkeypatch.setenv("XDG_DATA_HOME", str(data))
    assert main(["desktop-entry", "install"]) == 0
    entry = data / "applications" / f"{APP_ID}.desktop"
    assert f"wrote {entry}" in capsys.readouterr().out
    text = entry.read_text()
    exec_line = next(line for line in text.splitlines() if line.startswith("Exec="))
    program = shlex.split(exec_line.removeprefix("Exec="))[0]
    assert Path(program).is_absolute() and Path(program).is_file()
    assert exec_line.endswith("%f")
    assert (data / "metainfo" / f"{APP_ID}.metainfo.xml").is_file()
    assert (data / "icons/hicolor/scalable/apps" / f"{APP_ID}.svg").is_file()
    for size in ICON_SIZES:
        with Image.open(data / f"icons/hicolor/{size}x{size}/apps/{APP_ID}.png") as icon:
            assert icon.size == (size, size)

    assert main(["desktop-entry", "uninstall"]) == 0
    assert not entry.exists()
    assert not [p for p in data.rglob("*") if p.is_file() and APP_ID in p.name]
    assert main(["desktop-entry", "uninstall"]) == 0
    assert "nothing to remove" in capsys.readouterr().out


def test_the_installed_entry_and_the_metainfo_pass_the_validators(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _validators("desktop-file-validate", "appstreamcli")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert main(["desktop-entry", "install"]) == 0
    metainfo = tmp_path / "metainfo" / f"{APP_ID}.metainfo.xml"
    for command in (
        ["desktop-file-validate", str(tmp_path / "applications" / f"{APP_ID}.desktop")],
        ["desktop-file-validate", str(resources_dir() / "desktop" / f"{APP_ID}.desktop")],
        ["appstreamcli", "validate", "--no-net", str(metainfo)],
    ):
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "error" not in (done.stdout + done.stderr).lower()
