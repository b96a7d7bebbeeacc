"""Textual inversion: one new token whose input embedding alone is learned; every other row of
the embedding table is put back after each step, so only the new token changes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.errors import BadInput
from core.training.parts import BaseParts
from core.training.spec import TrainingSpec


class TextualInversionMethod:
    variant_kind = "embedding"
    trains_text = True

    def __init__(self, spec: TrainingSpec, parts: BaseParts) -> None:
        import torch

        self.parts = parts
        self.token = str(spec.token)
        tokenizer, encoder = parts.tokenizer, parts.text_encoder
        if tokenizer.add_tokens(self.token) != 1:
            raise BadInput("token", f"{self.token!r} is already a token of this model's tokenizer")
        self.token_id = int(tokenizer.convert_tokens_to_ids(self.token))
        torch.manual_seed(spec.seed)
        encoder.resize_token_embeddings(len(tokenizer))
        table = encoder.get_input_embeddings().weight
        with torch.no_grad():
            table[self.token_id] = self._start(spec.initializer, table)
        self.original = table.detach().clone()
        self.keep = torch.ones(table.shape[0], dtype=torch.bool)
        self.keep[self.token_id] = False
        table.requires_grad_(True)
        self.table = table

    def _start(self, initializer: str | None, table: Any) -> Any:
        """The initializer word's embedding (its first token), else the mean embedding."""
        if initializer:
            ids = self.parts.tokenizer.encode(initializer, add_special_tokens=False)
            if not ids:
                raise BadInput("initializer", f"{initializer!r} gives no token")
            return table[ids[0]].clone()
        return table[: self.token_id].mean(dim=0)

    def parameters(self) -> list[Any]:
        return [self.table]

    def after_step(self) -> None:
        import torch

        with torch.no_grad():
            self.table[self.keep] = self.original[self.keep]

    def embedding(self) -> Any:
        return self.table[self.token_id].detach().clone()

    def export(self, folder: Path, spec: TrainingSpec, base: dict[str, Any]) -> Path:
        from core.training.export import save_embedding

        path = folder / f"{spec.name}.safetensors"
        save_embedding(path, self.token, self.embedding(), spec, base)
        return path
