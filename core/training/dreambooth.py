"""DreamBooth: the whole UNet (optionally the text encoder) learns the subject; the result is a
diffusers folder, the base model's other parts copied unchanged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.training.parts import BaseParts
from core.training.spec import TrainingSpec


class DreamBoothMethod:
    variant_kind = ""

    def __init__(self, spec: TrainingSpec, parts: BaseParts) -> None:
        self.parts = parts
        self.trains_text = spec.train_text_encoder
        parts.unet.requires_grad_(True)
        if self.trains_text:
            parts.text_encoder.requires_grad_(True)

    def parameters(self) -> list[Any]:
        modules = [self.parts.unet] + ([self.parts.text_encoder] if self.trains_text else [])
        return [p for m in modules for p in m.parameters()]

    def after_step(self) -> None:
        return None

    def export(self, folder: Path, spec: TrainingSpec, base: dict[str, Any]) -> Path:
        from core.training.export import save_dreambooth_folder

        path = folder / spec.name
        save_dreambooth_folder(path, self.parts, Path(base["path"]), self.trains_text)
        return path
