"""Model references: each form told apart; pickles refused; hub ids only from the local cache."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from core.errors import ModelError
from core.models.loading import load_pipeline
from core.models.sources import ModelSource, local_path, parse_source

REV = "0123456789abcdef0123456789abcdef01234567"


def test_demo_name_is_a_demo_source(demo_models: Path) -> None:
    source = parse_source("demo:sd")
    assert source == ModelSource("demo", "demo:sd")
    assert (local_path(source) / "model_index.json").is_file()


def test_unknown_demo_name_is_refused_when_used(demo_models: Path) -> None:
    with pytest.raises(ModelError, match="demo:nope: unknown demo model"):
        local_path(parse_source("demo:nope"))


def test_existing_folder_is_a_folder_source(tmp_path: Path) -> None:
    source = parse_source(str(tmp_path))
    assert source.type == "folder"
    assert Path(source.location) == tmp_path.resolve()
    assert local_path(source) == tmp_path.resolve()


def test_safetensors_file_is_a_single_file_with_its_config(tmp_path: Path) -> None:
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"x")
    config = tmp_path / "config"
    config.mkdir()
    source = parse_source(str(weights), config=str(config))
    assert source == ModelSource("single_file", str(weights.resolve()), config=str(config))
    assert local_path(source) == weights.resolve()


@pytest.mark.parametrize("suffix", [".ckpt", ".pt", ".pth", ".bin"])
def test_pickle_weights_are_refused_unless_allowed(tmp_path: Path, suffix: str) -> None:
    weights = tmp_path / f"model{suffix}"
    weights.write_bytes(b"x")
    with pytest.raises(ModelError) as refused:
        parse_source(str(weights))
    message = str(refused.value)
    assert str(weights) in message
    assert "pickle" in message and "allow_pickle" in message
    allowed = parse_source(str(weights), allow_pickle=True)
    assert allowed.type == "single_file" and allowed.allow_pickle


def test_other_files_are_not_weights(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    with pytest.raises(ModelError, match="not a weights file"):
        parse_source(str(notes))


@pytest.mark.parametrize(
    ("text", "location", "revision"),
    [
        ("stabilityai/sd-turbo", "stabilityai/sd-turbo", None),
        (f"org/name@{REV}", "org/name", REV),
        ("org/name.v1.5@main", "org/name.v1.5", "main"),
    ],
)
def test_hub_ids(text: str, location: str, revision: str | None) -> None:
    assert parse_source(text) == ModelSource("hub", location, revision=revision)


def test_hub_revision_given_apart() -> None:
    assert parse_source("org/name", revision="v2").revision == "v2"


@pytest.mark.parametrize(
    "text", ["./missing/model", "/nowhere/at/all", "model.safetensors", "org/name.safetensors"]
)
def test_missing_paths_are_file_not_found(text: str) -> None:
    with pytest.raises(ModelError, match="file not found"):
        parse_source(text)


@pytest.mark.parametrize("text", ["nonsense", "sd 1.5", "a:b"])
def test_anything_else_is_a_bad_reference(text: str) -> None:
    with pytest.raises(ModelError) as bad:
        parse_source(text)
    assert str(bad.value) == f"{text}: not a model name, a folder, a weights file or a hub id"


def test_config_folder_only_goes_with_a_single_file(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="only goes with a single weights file"):
        parse_source("demo:sd", config=str(tmp_path))
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"x")
    with pytest.raises(ModelError, match="config folder not found"):
        parse_source(str(weights), config=str(tmp_path / "missing"))


def test_moved_folder_is_reported(tmp_path: Path) -> None:
    source = parse_source(str(tmp_path))
    tmp_path.rmdir()
    with pytest.raises(ModelError, match="folder not found"):
        local_path(source)


# ---- the hub, offline ------------------------------------------------------------------------
@pytest.fixture()
def hf_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "hf" / "hub"
    cache.mkdir(parents=True)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return cache


def test_hub_id_loads_from_the_local_cache(hf_cache: Path, sd_folder: Path) -> None:
    repo = hf_cache / "models--atelier-test--tiny-sd"
    snapshot = repo / "snapshots" / REV
    shutil.copytree(sd_folder, snapshot, ignore=shutil.ignore_patterns("atelier.json"))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(REV)

    assert local_path(parse_source("atelier-test/tiny-sd")) == snapshot
    assert local_path(parse_source(f"atelier-test/tiny-sd@{REV}")) == snapshot
    pipe = load_pipeline(snapshot, "sd1", source_type="hub", config=None)
    assert type(pipe).__name__ == "StableDiffusionPipeline"


def test_hub_id_missing_from_the_cache_says_how_to_get_it(hf_cache: Path) -> None:
    with pytest.raises(ModelError) as missing:
        local_path(parse_source("atelier-test/not-downloaded"))
    message = str(missing.value)
    assert message.startswith("atelier-test/not-downloaded: not in the local Hugging Face cache")
    assert str(hf_cache) in message
    assert "download it first with `atelier models download atelier-test/not-downloaded`" in message
