"""LoRAs, textual inversions, a VAE override and memory savers, applied for one run only.

Everything is undone after the run, so the cached pipeline gives the base model's pixels again
(unloading a LoRA restores the weights bit-exactly; fusing would not).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from core.errors import BadInput, ModelError
from core.request import EmbeddingRef, GenerationRequest, LoraRef


@contextmanager
def applied(pipe: Any, request: GenerationRequest, vae: Any | None = None) -> Iterator[None]:
    with ExitStack() as stack:
        if request.loras:
            stack.enter_context(_loras(pipe, request.loras))
        if request.embeddings:
            stack.enter_context(_embeddings(pipe, request.embeddings))
        if vae is not None:
            stack.enter_context(_swap(pipe, "vae", vae))
        if request.attention_slicing:
            pipe.enable_attention_slicing()
            stack.callback(pipe.disable_attention_slicing)
        if request.vae_tiling:
            pipe.vae.enable_tiling()
            stack.callback(pipe.vae.disable_tiling)
        yield


def _existing(field: str, path: str) -> Path:
    p = Path(path)
    if not p.is_file():
        raise BadInput(field, f"{path}: file not found")
    if p.suffix.lower() not in (".safetensors",):
        raise BadInput(
            field, f"{path}: expected a .safetensors file (pickled weights can run code)"
        )
    return p


@contextmanager
def _loras(pipe: Any, loras: tuple[LoraRef, ...]) -> Iterator[None]:
    names = []
    try:
        for i, lora in enumerate(loras):
            path = _existing("loras", lora.path)
            name = f"lora{i}"
            try:
                pipe.load_lora_weights(str(path), adapter_name=name)
            except Exception as exc:
                raise ModelError(f"{path}: cannot load this LoRA ({exc})") from exc
            names.append(name)
        pipe.set_adapters(names, adapter_weights=[lr.weight for lr in loras])
        yield
    finally:
        if names:
            pipe.unload_lora_weights()


@contextmanager
def _embeddings(pipe: Any, embeddings: tuple[EmbeddingRef, ...]) -> Iterator[None]:
    if getattr(pipe, "text_encoder", None) is None or not hasattr(pipe, "load_textual_inversion"):
        raise BadInput("embeddings", f"{type(pipe).__name__} cannot load textual inversions")
    loaded = False
    try:
        for emb in embeddings:
            path = _existing("embeddings", emb.path)
            try:
                pipe.load_textual_inversion(str(path), token=emb.token)
            except Exception as exc:
                raise ModelError(f"{path}: cannot load this embedding ({exc})") from exc
            loaded = True
        yield
    finally:
        if loaded:
            pipe.unload_textual_inversion()


@contextmanager
def _swap(pipe: Any, name: str, module: Any) -> Iterator[None]:
    before = getattr(pipe, name)
    pipe.register_modules(**{name: module})
    try:
        yield
    finally:
        pipe.register_modules(**{name: before})
