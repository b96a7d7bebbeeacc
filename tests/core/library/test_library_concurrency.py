"""Several processes (the GUI and CLI workers) share one library home."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import core.library
from core.library import Library

REPO_ROOT = Path(core.library.__file__).resolve().parents[2]
RUNS_PER_WORKER = 25

WORKER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from core.library import Library
    from core.library.entities import NewAsset, NewOutput

    home, go, name = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    while not go.exists():
        time.sleep(0.005)
    with Library.open(home) as lib:
        project = lib.projects.get_or_create("shared")
        for i in range(int(sys.argv[4])):
            outputs = []
            for k in range(2):
                stored = lib.store.put_bytes(f"{name}-{i}-{k}".encode(), "png")
                asset = NewAsset(stored.sha256, lib.store.relpath_for(stored.sha256, "png"),
                                 stored.size, "png")
                outputs.append(NewOutput(asset, str(stored.path), k, i, stored.sha256, "{}"))
            lib.runs.record_run(project.id, None, "{}", "h" * 64, "{}", "{}", outputs)
            lib.file_hashes.put(f"/models/{name}", i, i, "a" * 64)
            lib.runs.list_outputs(limit=5)
    print("done", name)
    """
)


@pytest.mark.slow
def test_two_processes_open_and_write_one_library_at_the_same_time(tmp_path: Path) -> None:
    home, go = tmp_path / "home", tmp_path / "go"
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    workers = [
        subprocess.Popen(
            [sys.executable, str(script), str(home), str(go), name, str(RUNS_PER_WORKER)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=REPO_ROOT,
        )
        for name in ("gui", "cli")
    ]
    time.sleep(0.5)  # both are waiting for the signal with their imports done
    go.touch()
    results = [w.communicate(timeout=60) for w in workers]

    for worker, (out, err) in zip(workers, results, strict=True):
        assert "locked" not in err
        assert worker.returncode == 0, err
        assert out.startswith("done")
    with Library.open(home) as lib:
        assert lib.runs.count_outputs() == 2 * 2 * RUNS_PER_WORKER
        assert [p.name for p in lib.projects.list()] == ["shared"]
    assert not (home / "backups").exists()  # a fresh library is never backed up
