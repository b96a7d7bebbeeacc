"""What every training method gives the loop: its trainable parameters, how it encodes prompts,
what it does after an optimizer step, and its weights as a plain state for checkpoints."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from core.training.parts import BaseParts
from core.training.spec import TrainingSpec


class TrainingMethod(Protocol):
    variant_kind: str  # "lora", "embedding", or "" for a model folder (kind read from it)
    trains_text: bool  # whether prompts must be encoded each step (with gradients)

    def parameters(self) -> list[Any]: ...

    def after_step(self) -> None: ...

    def export(self, folder: Path, spec: TrainingSpec, base: dict[str, Any]) -> Path: ...


def trainable_state(parts: BaseParts) -> dict[str, Any]:
    """Every parameter being trained, by name, copied (what a checkpoint holds)."""
    state = {}
    for prefix, module in (("unet.", parts.unet), ("text_encoder.", parts.text_encoder)):
        for name, param in module.named_parameters():
            if param.requires_grad:
                state[prefix + name] = param.detach().clone()
    return state


def load_trainable_state(parts: BaseParts, state: dict[str, Any]) -> None:
    import torch

    params = {
        prefix + name: param
        for prefix, module in (("unet.", parts.unet), ("text_encoder.", parts.text_encoder))
        for name, param in module.named_parameters()
        if param.requires_grad
    }
    missing = sorted(set(params) ^ set(state))
    if missing:
        raise ValueError(f"checkpoint does not match this run's parameters ({missing[0]})")
    with torch.no_grad():
        for name, param in params.items():
            param.copy_(state[name])


def make_method(spec: TrainingSpec, parts: BaseParts) -> TrainingMethod:
    if spec.method == "lora":
        from core.training.lora import LoraMethod

        return LoraMethod(spec, parts)
    if spec.method == "dreambooth":
        from core.training.dreambooth import DreamBoothMethod

        return DreamBoothMethod(spec, parts)
    from core.training.textual_inversion import TextualInversionMethod

    return TextualInversionMethod(spec, parts)
