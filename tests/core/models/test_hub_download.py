"""`atelier models download`: a model from a hub (a local server speaking the hub's API, with
HF_ENDPOINT pointed at it) into the standard cache, only what the pipeline needs, resumed
after an interruption, registered and fingerprinted; clear messages when it cannot be had."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hub_server import GOOD_TOKEN, FakeHub, FakeRepo, start, tiny_sd_repo

from core.cli.main import main
from core.errors import Cancelled, ModelError
from core.models.hub_download import download, download_file, plan_download, repo_cache_dir
from core.paths import resources_dir

REPO = "tests/tiny-sd"
UNET = "unet/diffusion_pytorch_model.safetensors"


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the local hub on 127.0.0.1 may be reached (the conftest's guard, loopback allowed)."""
    import socket

    connect = socket.socket.connect

    def loopback_only(sock: socket.socket, address: object) -> None:
        if not (isinstance(address, tuple) and address[0] == "127.0.0.1"):
            raise AssertionError(f"network access attempted: {address}")
        connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", loopback_only)


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    fake = FakeHub(repos={REPO: tiny_sd_repo(resources_dir())})
    server, thread = start(fake)
    monkeypatch.setenv("HF_ENDPOINT", fake.url)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))  # no token from this machine
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    yield fake
    server.shutdown()
    thread.join()


def test_download_fetches_only_the_pipeline_registers_it_and_it_generates(
    hub: FakeHub, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = str(tmp_path / "home")
    assert main(["--home", home, "models", "download", REPO, "--name", "tiny"]) == 0
    out, err = capsys.readouterr()
    assert "added tiny: sd2" in out  # v-prediction, as the shipped demo model
    assert "MB" in err and "/s" in err  # the progress line: bytes and speed
    fetched = {path.split("/resolve/main/")[-1] for _, path, _ in hub.log if "/resolve/" in path}
    fetched |= {path.split("/resolve/c0ffee")[-1].split("/", 1)[-1] for _, path, _ in hub.log}
    assert UNET in fetched and "tokenizer/tokenizer.json" in fetched
    never = ("unet/diffusion_pytorch_model.bin", "safety_checker/model.safetensors", "README.md",
             "v1-inference.ckpt", "vae/diffusion_pytorch_model.fp16.safetensors")  # fmt: skip
    assert not fetched & set(never)
    snapshot = repo_cache_dir(REPO) / "snapshots" / hub.repos[REPO].commit
    assert (snapshot / UNET).is_symlink()
    assert (snapshot / "vae" / "empty.json").read_bytes() == b""
    assert (repo_cache_dir(REPO) / "refs" / "main").read_text() == hub.repos[REPO].commit

    assert main(["--home", home, "models", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    (variant,) = [v for v in listed if not v.get("builtin")]  # the built-in demo models follow
    assert variant["name"] == "tiny" and variant["source_type"] == "hub"
    assert len(variant["fingerprint"]) == 64
    assert main(["--home", home, "generate", "--model", "tiny", "--prompt", "a red circle",
                 "--steps", "2", "--seed", "1", "--json"]) == 0  # fmt: skip
    (output,) = json.loads(capsys.readouterr().out)
    assert Path(output["path"]).is_file()


def test_a_dropped_connection_resumes_where_it_stopped(hub: FakeHub) -> None:
    hub.drop_once.add(UNET)
    size = len(hub.repos[REPO].files[UNET])
    snapshot = download(plan_download(REPO))
    assert (snapshot / UNET).read_bytes() == hub.repos[REPO].files[UNET]
    ranges = [r for _, _, r in hub.served(UNET)]
    assert ranges == [None, f"bytes={size // 2}-"]  # the second GET asked only for the rest


def test_a_cancelled_download_continues_on_the_next_try(hub: FakeHub) -> None:
    plan = plan_download(REPO)
    cancel = threading.Event()

    def cancel_in_the_unet(event: object) -> None:
        if getattr(event, "file", "") == UNET:
            cancel.set()

    with pytest.raises(Cancelled, match="kept for the next try"):
        download(plan, on_progress=cancel_in_the_unet, cancel=cancel)
    (partial,) = (repo_cache_dir(REPO) / "blobs").glob("*.incomplete")
    kept = partial.stat().st_size
    assert 0 < kept < len(hub.repos[REPO].files[UNET])

    before = len(hub.log)
    snapshot = download(plan)
    assert (snapshot / UNET).read_bytes() == hub.repos[REPO].files[UNET]
    again = [entry for entry in hub.log[before:] if entry[1].endswith(UNET)]
    assert [r for _, _, r in again] == [f"bytes={kept}-"]
    assert not list((repo_cache_dir(REPO) / "blobs").glob("*.incomplete"))


def test_the_fp16_variant_is_fetched_instead_of_the_full_weights_and_loads(
    hub: FakeHub, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = plan_download(REPO, variant="fp16")
    names = {f.path for f in plan.files}
    assert "vae/diffusion_pytorch_model.fp16.safetensors" in names
    assert "vae/diffusion_pytorch_model.safetensors" not in names
    assert UNET in names  # no fp16 file for the unet: its only weights
    with pytest.raises(ModelError, match="no bf16 weights"):
        plan_download(REPO, variant="bf16")
    home = str(tmp_path / "home")
    assert main(["--home", home, "models", "download", REPO, "--variant", "fp16"]) == 0
    assert main(["--home", home, "generate", "--model", "tiny-sd", "--steps", "2"]) == 0
    assert "output 1" in capsys.readouterr().out


def test_a_missing_repository_says_so(
    hub: FakeHub, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = str(tmp_path / "home")
    assert main(["--home", home, "models", "download", "tests/no-such-model"]) == 1
    err = capsys.readouterr().err
    assert "tests/no-such-model: no such repository" in err
    assert main(["--home", home, "models", "download", REPO, "--revision", "v9"]) == 1
    assert "no such revision" in capsys.readouterr().err


def test_a_gated_repository_needs_the_users_token(
    hub: FakeHub,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    hub.repos["tests/gated"] = FakeRepo(**{**vars(hub.repos[REPO]), "gated": True})
    home = str(tmp_path / "home")
    assert main(["--home", home, "models", "download", "tests/gated"]) == 1
    err = capsys.readouterr().err
    assert "gated repository" in err and "hf auth login" in err
    assert f"({hub.url}/tests/gated)" in err  # the page where its conditions are accepted
    monkeypatch.setenv("HF_TOKEN", GOOD_TOKEN)
    assert main(["--home", home, "models", "download", "tests/gated"]) == 0
    assert "added gated" in capsys.readouterr().out
    assert not list((tmp_path / "home").rglob("*token*"))  # never stored by Atelier


def test_no_network_and_offline_mode_are_clear(
    hub: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens on the discard port
    with pytest.raises(ModelError, match=r"cannot reach 127\.0\.0\.1:9.*network"):
        plan_download(REPO)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelError, match="offline mode"):
        plan_download(REPO)


def test_a_safetensors_file_by_url_is_checked_against_its_sha256(
    hub: FakeHub, tmp_path: Path
) -> None:
    url = f"{hub.url}/{REPO}/resolve/main/vae/diffusion_pytorch_model.safetensors"
    data = hub.repos[REPO].files["vae/diffusion_pytorch_model.safetensors"]
    with pytest.raises(ModelError, match=r"expected 0{64}"):
        download_file(url, tmp_path / "bad", sha256="0" * 64)
    assert not list((tmp_path / "bad").iterdir())  # nothing half-right left behind
    path = download_file(url, tmp_path / "good", sha256=hashlib.sha256(data).hexdigest())
    assert path.name == "diffusion_pytorch_model.safetensors" and path.read_bytes() == data
    with pytest.raises(ModelError, match=r"only \.safetensors"):
        download_file(f"{hub.url}/{REPO}/resolve/main/v1-inference.ckpt", tmp_path)
