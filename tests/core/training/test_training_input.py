"""Bad training input: a clear message naming the file or field, and nothing left behind."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from PIL import Image

from core.errors import BadInput
from core.library import Library
from core.training.dataset import load_instance_images
from core.training.run import TRAINED_DIR, prepare
from core.training.spec import TrainingSpec

SPEC = TrainingSpec(
    method="lora",
    base="demo:sd",
    images="",
    prompt="a zxq star",
    name="zxq",
    steps=2,
    seed=1,
)


def _spec(images: Path, **changes: object) -> TrainingSpec:
    return dataclasses.replace(SPEC, images=str(images), **changes)  # type: ignore[arg-type]


def test_images_are_centre_cropped_with_the_crop_recorded_and_captions_read(
    tmp_path: Path,
) -> None:
    Image.new("RGB", (120, 80), (200, 10, 10)).save(tmp_path / "wide.png")
    Image.new("RGB", (64, 64), (10, 10, 200)).save(tmp_path / "square.webp")
    (tmp_path / "square.txt").write_text("a zxq star on a blue background\n", encoding="utf-8")
    (tmp_path / "notes.md").write_text("not an image", encoding="utf-8")
    images = load_instance_images(str(tmp_path), 64, "a zxq star")
    by_name = {Path(i.path).name: i for i in images}
    assert sorted(by_name) == ["square.webp", "wide.png"]
    assert by_name["wide.png"].crop == (20, 0, 100, 80)
    assert by_name["wide.png"].pixels.shape == (64, 64, 3)
    assert by_name["wide.png"].caption == "a zxq star"
    assert by_name["square.webp"].caption == "a zxq star on a blue background"


def test_an_empty_folder_is_refused(library: Library, tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="no images"):
        prepare(_spec(tmp_path), library)


def test_a_folder_with_no_readable_image_names_the_files(library: Library, tmp_path: Path) -> None:
    (tmp_path / "broken.png").write_bytes(b"not a png at all")
    with pytest.raises(BadInput, match=r"no readable image: broken\.png"):
        prepare(_spec(tmp_path), library)


def test_an_image_smaller_than_half_the_resolution_is_refused(
    library: Library, tmp_path: Path
) -> None:
    Image.new("RGB", (64, 64)).save(tmp_path / "ok.png")
    Image.new("RGB", (30, 40)).save(tmp_path / "tiny.png")
    with pytest.raises(BadInput, match=r"tiny\.png: 30x40 is smaller than half"):
        prepare(_spec(tmp_path), library)


def test_an_unsupported_base_and_a_name_in_use_are_refused(
    library: Library, subject_images: Path
) -> None:
    with pytest.raises(BadInput, match="base: demo:sdxl is a sdxl model"):
        prepare(_spec(subject_images, base="demo:sdxl"), library)
    library.models.add("zxq", "demo", "demo:sd", "sd2")
    with pytest.raises(BadInput, match="'zxq' is already a model"):
        prepare(_spec(subject_images), library)
    assert not (library.home / TRAINED_DIR).exists()


def test_an_identifier_that_is_a_common_word_gets_a_warning(
    library: Library, subject_images: Path
) -> None:
    assert prepare(_spec(subject_images), library).warnings == ()
    common = prepare(_spec(subject_images, prompt="a purple star"), library)
    assert len(common.warnings) == 1 and "'purple' is already a word" in common.warnings[0]


def test_spec_fields_are_checked_before_any_work(library: Library, subject_images: Path) -> None:
    with pytest.raises(BadInput, match="steps"):
        prepare(_spec(subject_images, steps=0), library)
    with pytest.raises(BadInput, match="class_prompt: prior preservation needs"):
        prepare(_spec(subject_images, method="dreambooth", class_images=4), library)
    with pytest.raises(BadInput, match="does not contain the token"):
        prepare(_spec(subject_images, method="textual-inversion"), library)
