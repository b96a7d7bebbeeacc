"""The wheel alone, installed into a fresh virtual environment with no checkout anywhere on the
path, runs the demo and the window: the shipped resources travel inside the package.

The new environment gets its dependencies from the project's environment through a .pth line
(installing torch again would take minutes); Atelier itself comes only from the wheel."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv holding the wheel built from this checkout; its bin folder."""
    tmp = tmp_path_factory.mktemp("wheel")
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "-w", str(tmp / "dist"), str(ROOT)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr[-3000:]
    (wheel,) = (tmp / "dist").glob("atelier-*.whl")
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    (Path(purelib) / "project_dependencies.pth").write_text(sysconfig.get_paths()["purelib"])
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--no-deps", "--no-index", str(wheel)],
        capture_output=True, text=True, timeout=300, cwd=tmp,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr[-3000:]
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
    assert "core/resources/models/demo-sd/unet/diffusion_pytorch_model.safetensors" in names
    assert "core/resources/tokenizers/clip/vocab.json" in names
    return venv / "bin"


def _run(bin_dir: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "ATELIER_RESOURCES")}
    env.update(
        ATELIER_HOME=str(cwd / "home"),
        ATELIER_DEMO_DIR=str(cwd / "demo-models"),  # built afresh from the wheel's resources
        ATELIER_SETTINGS=str(cwd / "settings.ini"),
        QT_QPA_PLATFORM="offscreen",
    )
    return subprocess.run(
        [str(bin_dir / args[0]), *args[1:]],
        capture_output=True, text=True, timeout=600, cwd=cwd, env=env,
    )  # fmt: skip


def test_the_installed_package_comes_from_the_venv_not_the_checkout(
    installed: Path, tmp_path: Path
) -> None:
    where = _run(installed, tmp_path, "python", "-c", "import core, desktop; print(core.__file__)")
    assert where.returncode == 0, where.stderr
    assert Path(where.stdout.strip()).is_relative_to(installed.parent)
    version = _run(installed, tmp_path, "atelier", "--version")
    assert version.stdout.strip() == "atelier 0.1.0"  # no checkout, so no commit
    assert (installed / "atelier-gui").is_file()


def test_atelier_demo_runs_from_the_wheel_alone(installed: Path, tmp_path: Path) -> None:
    done = _run(installed, tmp_path, "atelier", "demo", "--out", "out")
    assert done.returncode == 0, done.stderr[-3000:]
    with Image.open(tmp_path / "out" / "demo-grid.png") as grid:
        assert grid.width > 64
    assert not (ROOT / "out").exists()


def test_the_window_smoke_test_runs_from_the_wheel_alone(installed: Path, tmp_path: Path) -> None:
    done = _run(installed, tmp_path, "atelier", "gui", "--smoke-test", "shot.png")
    assert done.returncode == 0, done.stderr[-3000:]
    with Image.open(tmp_path / "shot.png") as shot:
        assert shot.width >= 800


def test_the_sdist_carries_the_resources_and_the_packaging_files(tmp_path: Path) -> None:
    build = subprocess.run(
        [sys.executable, "-c",
         f"from setuptools import build_meta; build_meta.build_sdist({str(tmp_path)!r})"],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr[-3000:]
    (sdist,) = tmp_path.glob("atelier-*.tar.gz")
    with tarfile.open(sdist) as tf:
        names = {n.split("/", 1)[1] for n in tf.getnames() if "/" in n}
    for needed in (
        "core/resources/models/demo-sd/unet/diffusion_pytorch_model.safetensors",
        "core/resources/tokenizers/clip/merges.txt",
        "core/resources/desktop/io.github.atelier.Atelier.desktop",
        "core/resources/icons/atelier.svg",
        "packaging/atelier.spec",
        "docs/packaging.md",
    ):
        assert needed in names, needed
