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
