"""LoRA (peft) on the UNet's attention projections, optionally on the text encoder's too."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.training.parts import BaseParts
from core.training.spec import TrainingSpec

UNET_TARGETS = ["to_q", "to_k", "to_v", "to_out.0"]
TEXT_TARGETS = ["q_proj", "k_proj", "v_proj", "out_proj"]


class LoraMethod:
    variant_kind = "lora"

    def __init__(self, spec: TrainingSpec, parts: BaseParts) -> None:
        import torch
        from peft import LoraConfig

        self.parts = parts
        self.trains_text = spec.train_text_encoder
        torch.manual_seed(spec.seed)  # the adapters' starting weights
        rank, alpha = spec.rank, float(spec.alpha or spec.rank)
        parts.unet.add_adapter(
            LoraConfig(
                r=rank, lora_alpha=alpha, init_lora_weights="gaussian", target_modules=UNET_TARGETS
            )
        )
        if spec.train_text_encoder:
            parts.text_encoder.add_adapter(
                LoraConfig(
                    r=rank,
                    lora_alpha=alpha,
                    init_lora_weights="gaussian",
                    target_modules=TEXT_TARGETS,
                )
            )

    def parameters(self) -> list[Any]:
        modules = [self.parts.unet] + ([self.parts.text_encoder] if self.trains_text else [])
        return [p for m in modules for p in m.parameters() if p.requires_grad]

    def after_step(self) -> None:
        return None

    def export(self, folder: Path, spec: TrainingSpec, base: dict[str, Any]) -> Path:
        from core.training.export import save_kohya_lora

        path = folder / f"{spec.name}.safetensors"
        save_kohya_lora(path, self.parts, spec, base)
        return path
