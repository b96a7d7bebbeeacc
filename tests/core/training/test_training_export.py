"""A LoRA file written by Atelier computes, once loaded by diffusers' `load_lora_weights` (how
Atelier and other tools read kohya files), what the trained adapters computed."""

from __future__ import annotations

from pathlib import Path

import torch

from core.models.demo import demo_model_path
from core.training.methods import make_method
from core.training.parts import load_parts
from core.training.spec import TrainingSpec


def test_a_kohya_lora_file_loads_in_diffusers_with_the_trained_effect(tmp_path: Path) -> None:
    from diffusers import StableDiffusionPipeline

    folder = demo_model_path("demo:sd")
    spec = TrainingSpec(
        method="lora",
        base="demo:sd",
        images=str(tmp_path),
        prompt="a zxq star",
        name="zxq",
        steps=1,
        seed=3,
        rank=4,
        alpha=2.0,
        train_text_encoder=True,
        resolution=64,
    )
    parts = load_parts(folder)
    method = make_method(spec, parts)
    torch.manual_seed(0)
    with torch.no_grad():
        for p in method.parameters():  # as if trained: every up-projection non-zero
            p.add_(torch.randn_like(p) * 0.05)
    base = {"name": "demo:sd", "kind": "sd2", "fingerprint": "0" * 64, "path": str(folder)}
    path = method.export(tmp_path, spec, base)

    ids = parts.tokenizer(["a zxq star"], padding="max_length", return_tensors="pt").input_ids
    latents = torch.randn(1, 4, 16, 16, generator=torch.Generator().manual_seed(1))
    t = torch.tensor([500])
    with torch.no_grad():
        hidden = parts.text_encoder(ids)[0]
        expected = parts.unet(latents, t, hidden).sample

    pipe = StableDiffusionPipeline.from_pretrained(folder, local_files_only=True)
    pipe.load_lora_weights(str(path), adapter_name="zxq")
    with torch.no_grad():
        loaded_hidden = pipe.text_encoder(ids)[0]
        loaded = pipe.unet(latents, t, loaded_hidden).sample
        pipe.unload_lora_weights()
        plain = pipe.unet(latents, t, pipe.text_encoder(ids)[0]).sample
    assert torch.allclose(loaded_hidden, hidden, atol=1e-5)
    assert torch.allclose(loaded, expected, atol=1e-4)
    assert not torch.allclose(plain, expected, atol=1e-3)  # the adapters do change the output
