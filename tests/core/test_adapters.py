"""LoRAs, textual inversions and a VAE override change the image, are recorded, and are undone."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from core.generation import Generator
from core.models.demo import demo_model_path
from core.request import EmbeddingRef, GenerationRequest, LoraRef


def _req(**kw: object) -> GenerationRequest:
    base: dict[str, object] = {"seed": 3, "steps": 3, "prompt": "a red circle on a blue background"}
    base.update(kw)
    return GenerationRequest(task="text2img", model="demo:sd", **base)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def lora_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random (non-zero) LoRA for the demo UNet, saved the way diffusers saves LoRAs."""
    import torch
    from diffusers import StableDiffusionPipeline
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    pipe = StableDiffusionPipeline.from_pretrained(
        demo_model_path("demo:sd"), local_files_only=True
    )
    torch.manual_seed(0)
    config = LoraConfig(
        r=4,
        lora_alpha=4,
        init_lora_weights=False,
        target_modules=["to_q", "to_k", "to_v", "to_out.0"],
    )
    pipe.unet.add_adapter(config)
    folder = tmp_path_factory.mktemp("lora")
    StableDiffusionPipeline.save_lora_weights(
        folder, unet_lora_layers=get_peft_model_state_dict(pipe.unet), safe_serialization=True
    )
    return folder / "pytorch_lora_weights.safetensors"


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
    save_file({"<shape-style>": torch.randn(32) * 3}, str(path))
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
