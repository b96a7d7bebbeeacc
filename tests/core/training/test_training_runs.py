"""Training runs end to end on demo:sd with tiny settings: resume, export formats, the library."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from safetensors import safe_open

from core.errors import Cancelled
from core.library import Library
from core.request import EmbeddingRef, GenerationRequest, LoraRef
from core.training.run import train
from core.training.spec import TrainingSpec
from training.subject import Renderer


def _spec(images: Path, **changes: object) -> TrainingSpec:
    values: dict[str, object] = {
        "method": "lora",
        "base": "demo:sd",
        "images": str(images),
        "prompt": "a zxq star",
        "name": "zxq",
        "steps": 6,
        "seed": 7,
        "batch_size": 2,
        "threads": 1,
    }
    values.update(changes)
    return TrainingSpec(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize("method", ["lora", "textual-inversion", "dreambooth"])
def test_a_stopped_and_resumed_run_ends_with_the_weights_of_an_uninterrupted_one(
    tmp_path: Path, subject_images: Path, method: str
) -> None:
    prompt = "a <zxq> star" if method == "textual-inversion" else "a zxq star"
    spec = _spec(subject_images, method=method, prompt=prompt)
    with Library.open(tmp_path / "straight") as library:
        straight = train(spec, library)
    with Library.open(tmp_path / "resumed") as library:
        seen: list[int] = []
        with pytest.raises(Cancelled, match="stopped at step 3 of 6"):
            train(spec, library, lambda p: seen.append(p.step), lambda: len(seen) >= 3)
        assert library.models.get("zxq") is None  # no half-made variant
        resumed = train(spec, library, lambda p: seen.append(p.step))
        record = library.training_runs.for_variant("zxq")
    assert seen == [1, 2, 3, 4, 5, 6]  # the resumed run counts on from the checkpoint
    assert resumed.fingerprint == straight.fingerprint
    assert record is not None and record.record["resumed_from_step"] == 3
    assert len(record.record["losses"]) == 6


def test_a_lora_is_one_kohya_file_usable_by_name_and_weight_zero_is_the_base_model(
    library: Library, subject_images: Path
) -> None:
    variant = train(_spec(subject_images, steps=4, lr=1e-2), library)
    assert (variant.kind, variant.base) == ("lora", "demo:sd")
    with safe_open(variant.path, "pt") as f:
        keys, meta = list(f.keys()), f.metadata()
    assert keys and all(k.startswith("lora_unet_") for k in keys)
    assert any(k.endswith(".lora_down.weight") for k in keys)
    assert any(k.endswith(".alpha") for k in keys)
    assert meta["ss_network_module"] == "networks.lora"
    assert meta["ss_network_dim"] == "4"
    assert meta["modelspec.architecture"].endswith("/lora")

    renderer = Renderer(library)

    def image(*loras: LoraRef) -> np.ndarray:
        prompt = "a zxq star on a green background"
        request = GenerationRequest("text2img", "demo:sd", prompt, seed=3, loras=loras)
        return renderer.images(request)[0]

    base = image()
    assert np.array_equal(image(LoraRef("zxq", 0.0)), base)
    assert not np.array_equal(image(LoraRef("zxq", 1.0)), base)

    run = library.training_runs.for_variant("zxq")
    assert run is not None and run.base_name == "demo:sd" and len(run.base_fingerprint) == 64
    images = run.record["instance_images"]
    assert len(images) == 6 and all(len(i["sha256"]) == 64 for i in images)
    assert images[0]["crop"] == [0, 0, 64, 64] and images[0]["caption"] == "a zxq star"
    assert run.record["spec"]["threads"] == 1 and run.record["environment"]["threads"] == 1


def test_an_embedding_is_saved_in_the_diffusers_layout_and_loads_by_name(
    library: Library, subject_images: Path
) -> None:
    spec = _spec(subject_images, method="textual-inversion", prompt="a <zxq> star", steps=2)
    variant = train(spec, library)
    assert variant.kind == "embedding"
    with safe_open(variant.path, "pt") as f:
        assert list(f.keys()) == ["<zxq>"]
        assert f.get_tensor("<zxq>").shape == (128,)  # demo:sd's text width
    request = GenerationRequest(
        "text2img", "demo:sd", "a <zxq> star", seed=1, embeddings=(EmbeddingRef("zxq"),)
    )
    assert Renderer(library).images(request)[0].shape == (64, 64, 3)


def test_dreambooth_makes_a_model_folder_and_reuses_its_class_images(
    library: Library, subject_images: Path
) -> None:
    spec = _spec(
        subject_images, method="dreambooth", steps=2, class_prompt="a star", class_images=2
    )
    first = train(spec, library)
    assert Path(first.path, "unet", "diffusion_pytorch_model.safetensors").is_file()
    assert library.models.get("zxq") is not None and first.kind == "sd2"
    second = train(dataclasses.replace(spec, name="zxq2"), library)
    one = library.training_runs.for_variant("zxq")
    two = library.training_runs.for_variant("zxq2")
    assert one is not None and two is not None
    assert one.record["class_images"]["reused"] is False
    assert two.record["class_images"]["reused"] is True
    assert two.record["class_images"]["run_id"] == one.record["class_images"]["run_id"]
    assert second.fingerprint == first.fingerprint  # same settings, same weights
    made = GenerationRequest("text2img", "zxq2", "a zxq star on a green background", seed=1)
    assert Renderer(library).images(made)[0].shape == (64, 64, 3)


def test_class_images_from_several_prompts_are_shared_out_and_found_again(
    library: Library, subject_images: Path
) -> None:
    prompts = "a red star on a blue background|a green circle on a white background"
    spec = _spec(subject_images, method="dreambooth", steps=2, class_prompt=prompts, class_images=3)
    train(spec, library)
    record = library.training_runs.for_variant("zxq")
    assert record is not None
    made = record.record["class_images"]
    assert made["reused"] is False and len(made["run_ids"]) == 2 and len(made["sha256"]) == 3
    counts = {}
    for run_id in made["run_ids"]:
        run = library.runs.get_run(run_id)
        assert run is not None
        output = library.runs.get_output(run.output_ids[0])
        assert output is not None
        counts[json.loads(output.record_json)["request"]["prompt"]] = len(run.output_ids)
    assert counts == {
        "a red star on a blue background": 2,
        "a green circle on a white background": 1,
    }
    train(dataclasses.replace(spec, name="zxq2"), library)
    again = library.training_runs.for_variant("zxq2")
    assert again is not None and again.record["class_images"]["reused"] is True
    assert again.record["class_images"]["run_ids"] == made["run_ids"]
