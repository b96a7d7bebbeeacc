"""`atelier gui --smoke-test out.png` opens the window offscreen, runs a job, screenshots it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from PIL import Image


def test_smoke_test_exits_0_and_writes_a_png(tmp_path: Path, settings_file: Path) -> None:
    out = tmp_path / "shot.png"
    env = dict(os.environ, ATELIER_SETTINGS=str(settings_file), QT_QPA_PLATFORM="offscreen")
    done = subprocess.run(
        [sys.executable, "-m", "desktop.entry", "--home", str(tmp_path / "home"), "gui",
         "--smoke-test", str(out)],
        env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    with Image.open(out) as shot:
        assert shot.width >= 800 and shot.height >= 600


def test_the_window_closes_cleanly_over_a_gallery_of_forty_images(
    tmp_path: Path, settings_file: Path
) -> None:
    """With a few dozen images in the gallery, the interpreter's teardown after the window
    closed aborted ("Fatal Python error: bool_dealloc", exit 134) under PySide6 6.12.0, which
    lost references to None and booleans (test_qt_binding.py)."""
    home = tmp_path / "home"
    env = dict(os.environ, ATELIER_SETTINGS=str(settings_file), QT_QPA_PLATFORM="offscreen")
    grid = subprocess.run(
        [sys.executable, "-m", "desktop.entry", "--home", str(home), "grid",
         "--model", "demo:sd", "--x", "prompt=a|b|c|d|e|f|g|h", "--y", "cfg=1,2,3,4,5",
         "--seed", "3", "--steps", "4"],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert grid.returncode == 0, grid.stderr[-3000:]
    done = subprocess.run(
        [sys.executable, "-m", "desktop.entry", "--home", str(home), "gui",
         "--smoke-test", str(tmp_path / "shot.png")],
        env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Fatal Python error" not in done.stderr
