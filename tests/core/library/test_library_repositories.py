from __future__ import annotations

import dataclasses
from datetime import timezone

import pytest
from sqlalchemy.orm import DeclarativeBase

from core.errors import BadInput, ModelError
from core.library import Library
from core.library.entities import ModelVariant


def test_projects_are_created_once_by_name(library: Library) -> None:
    first = library.projects.get_or_create("portraits")
    again = library.projects.get_or_create("portraits")
    library.projects.get_or_create("landscapes")

    assert first == again
    assert [p.name for p in library.projects.list()] == ["landscapes", "portraits"]
    assert first.created_at.tzinfo == timezone.utc
    with pytest.raises(BadInput, match="project"):
        library.projects.get_or_create("  ")


def test_model_variants_round_trip_and_refuse_duplicate_names(library: Library) -> None:
    added = library.models.add(
        "tiny",
        "folder",
        "/models/tiny",
        "sd15",
        fingerprint="f" * 64,
        components={"unet": "a" * 64, "vae": "b" * 64},
        size_bytes=1234,
    )
    with pytest.raises(BadInput, match="name"):
        library.models.add("tiny", "hub", "org/tiny", "sd15")
    with pytest.raises(BadInput, match="source_type"):
        library.models.add("other", "ftp", "x", "sd15")

    got = library.models.get("tiny")
    assert got == added
    assert got is not None and got.components == {"unet": "a" * 64, "vae": "b" * 64}
    assert library.models.find_by_fingerprint("f" * 64) == [added]
    assert library.models.get("missing") is None


def test_model_variants_can_be_refingerprinted_moved_and_removed(library: Library) -> None:
    library.models.add("tiny", "single_file", "/old/tiny.safetensors", "sd15")
    updated = library.models.update_fingerprint("tiny", "c" * 64, {"unet": "d" * 64}, 99)
    moved = library.models.update_location("tiny", "/new/tiny.safetensors")

    assert updated.fingerprint == "c" * 64 and updated.size_bytes == 99
    assert moved.location == "/new/tiny.safetensors"
    assert moved.components == {"unet": "d" * 64}
    assert [m.name for m in library.models.list()] == ["tiny"]
    with pytest.raises(ModelError, match="ghost"):
        library.models.update_location("ghost", "/x")
    assert library.models.remove("tiny") is True
    assert library.models.remove("tiny") is False
    assert library.models.list() == []


def test_repositories_hand_back_plain_frozen_values(library: Library) -> None:
    library.models.add("tiny", "demo", "demo:tiny", "sd15")
    variant = library.models.list()[0]
    library.db.close()  # every session and connection is gone

    assert isinstance(variant, ModelVariant)
    assert not isinstance(variant, DeclarativeBase)
    assert dataclasses.is_dataclass(variant)
    assert variant.name == "tiny" and variant.location == "demo:tiny"
    with pytest.raises(dataclasses.FrozenInstanceError):
        variant.name = "other"  # type: ignore[misc]


def test_assets_are_registered_idempotently(library: Library) -> None:
    stored = library.store.put_bytes(b"mask", "png")
    relpath = library.store.relpath_for(stored.sha256, "png")
    first = library.assets.add(stored.sha256, relpath, stored.size, "png", "mask", 64, 64)
    second = library.assets.add(stored.sha256, relpath, stored.size, "png", "mask", 64, 64)

    assert first == second == library.assets.get(stored.sha256)
    assert library.store.root / first.relpath == stored.path
    assert library.assets.get("0" * 64) is None
    with pytest.raises(BadInput, match="role"):
        library.assets.add("1" * 64, "x", 1, "png", "wallpaper")


def test_file_hash_cache_answers_only_for_an_unchanged_file(library: Library) -> None:
    hashes = library.file_hashes
    assert hashes.get("/m/unet.safetensors", 10, 5) is None
    hashes.put("/m/unet.safetensors", 10, 5, "a" * 64)
    assert hashes.get("/m/unet.safetensors", 10, 5) == "a" * 64
    assert hashes.get("/m/unet.safetensors", 10, 6) is None  # touched since
    assert hashes.get("/m/unet.safetensors", 11, 5) is None  # resized since
    hashes.put("/m/unet.safetensors", 11, 2**62, "b" * 64)
    assert hashes.get("/m/unet.safetensors", 11, 2**62) == "b" * 64


def test_prompts_are_paged_searchable_and_removable(library: Library) -> None:
    project = library.projects.get_or_create("p")
    cat = library.prompts.add("a red cat on a sofa", "blurry", ("pets", "red"), True, project.id)
    library.prompts.add("a mountain lake at dawn", "cats")
    library.prompts.add('quote " and (parens) OR NOT*')

    assert cat.tags == ("pets", "red") and cat.favourite
    assert [p.text for p in library.prompts.list(limit=2)] == [
        'quote " and (parens) OR NOT*',
        "a mountain lake at dawn",
    ]
    assert [p.id for p in library.prompts.list(offset=2)] == [cat.id]
    assert library.prompts.list(favourites_only=True) == [cat]
    assert {p.text for p in library.prompts.search("cat")} == {
        "a red cat on a sofa",
        "a mountain lake at dawn",  # its negative says "cats"
    }
    assert [p.text for p in library.prompts.search("red sofa")] == ["a red cat on a sofa"]
    assert len(library.prompts.search('"and (parens) OR')) == 1
    assert library.prompts.search("   ") == []

    assert library.prompts.remove(cat.id) is True
    assert library.prompts.search("sofa") == []
    assert library.prompts.count() == 2


def test_seeds_and_masks_are_kept_and_removed(library: Library) -> None:
    seed = library.seeds.add(2**63 - 1, "lucky")
    assert library.seeds.list() == [seed]
    assert library.seeds.remove(seed.id) and library.seeds.list() == []

    stored = library.store.put_bytes(b"mask pixels", "png")
    relpath = library.store.relpath_for(stored.sha256, "png")
    library.assets.add(stored.sha256, relpath, stored.size, "png", "mask", 32, 16)
    mask = library.masks.add(stored.sha256, 32, 16, "face")
    assert library.masks.list() == [mask]
    with pytest.raises(BadInput, match="no asset"):
        library.masks.add("e" * 64, 1, 1)
    assert library.masks.remove(mask.id) and not library.masks.remove(mask.id)
