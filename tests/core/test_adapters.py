"""LoRAs, textual inversions and a VAE override change the image, are recorded, and are undone."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from core.generation import Generator
from core.models.demo import demo_model_path
from core.request import EmbeddingRef, GenerationRequest, LoraRef


def _req(**kw: object) -> GenerationRequest:
    base: dict[str, object] = {"seed": 3, "steps": 3, "prompt": "a red circle on a blue background"}
    base.update(kw)
    return GenerationRequest(task="text2img", model="demo:sd", **base)  # type: ignore[arg-type]


def test_lora_changes_the_image_by_weight_and_unloads_exactly(
    generator: Generator, lora_file: Path
) -> None:
    [plain] = generator.generate(_req())
    [full] = generator.generate(_req(loras=(LoraRef(str(lora_file), 1.0),)))
    [half] = generator.generate(_req(loras=(LoraRef(str(lora_file), 0.5),)))
    [again] = generator.generate(_req())
    assert len({plain.sha256, full.sha256, half.sha256}) == 3
    assert again.sha256 == plain.sha256  # the cached pipeline is the base model again
    record = json.loads(generator.library.runs.get_output(half.output_id).record_json)  # type: ignore[union-attr]
    assert record["models"]["loras"][0]["weight"] == 0.5
    assert len(record["models"]["loras"][0]["sha256"]) == 64


def test_textual_inversion_token_changes_the_image(generator: Generator, tmp_path: Path) -> None:
    import torch
    from safetensors.torch import save_file

    torch.manual_seed(1)
    path = tmp_path / "shape-style.safetensors"
    save_file({"<shape-style>": torch.randn(128) * 3}, str(path))
    prompt = "a <shape-style> circle"
    [without] = generator.generate(_req(prompt=prompt))
    [with_it] = generator.generate(_req(prompt=prompt, embeddings=(EmbeddingRef(str(path)),)))
    [after] = generator.generate(_req(prompt=prompt))
    assert with_it.sha256 != without.sha256
    assert after.sha256 == without.sha256  # unloaded after the run


def test_vae_override_is_used_and_recorded(generator: Generator, tmp_path: Path) -> None:
    from diffusers import AutoencoderKL

    folder = tmp_path / "my-vae"
    shutil.copytree(demo_model_path("demo:sd") / "vae", folder)
    vae = AutoencoderKL.from_pretrained(folder)
    vae.decoder.conv_out.bias.data += 0.5  # a brighter decoder
    vae.save_pretrained(folder)
    [plain] = generator.generate(_req())
    [other] = generator.generate(_req(vae=str(folder)))
    [again] = generator.generate(_req())
    assert other.sha256 != plain.sha256 and again.sha256 == plain.sha256
    record = json.loads(generator.library.runs.get_output(other.output_id).record_json)  # type: ignore[union-attr]
    assert record["models"]["vae"]["path"] == str(folder)
