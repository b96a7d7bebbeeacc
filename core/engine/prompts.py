"""Prompt embeddings kept between runs: a batch, a sweep or a folder of one prompt encodes it once.

The text encoder's output for a prompt depends only on the prompt, the negative prompt, clip
skip, the encoder's weights and, on a CPU, the thread count (a matmul split over another number
of threads may round differently). A `PromptEmbeddings` lives with one loaded model (so its
weights, device and dtype are fixed) and keys on the rest. A run with LoRAs or textual
inversions changes the encoder for that run only, so it neither reads nor fills the cache; nor
does a run with CPU offload, whose hooks move the encoder only inside the pipeline's call.

The pipeline gets the very tensors it would have made itself (it encodes the prompt and the
negative prompt one at a time, at batch size 1, then repeats them per image), so the pixels are
bit-identical: `tests/core/test_prompt_embeddings.py` compares every task with the cache off.
SDXL's pipelines (base and refiner) take four: the two encoders' joined hidden states and the
second encoder's pooled output, for the prompt and for the negative prompt (zeros when there is
none and the model's `force_zeros_for_empty_prompt` says so, as the pipeline makes them).
A1111 keeps its conditionings between batches the same way. On demo:sd at 64x64 the encoder is
about 10 ms of a 250 ms image on this CPU; on an SD 1.5 model on a GPU a few milliseconds.

On SD 1.x/2.x a clip skip is always encoded here, kept or not: diffusers' own clip skip fails
on the transformers this project runs (see `encode`). SDXL's own clip skip works.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Container
from typing import Any

from core.request import GenerationRequest

# Model kinds whose pipelines share StableDiffusionPipeline's `encode_prompt` (two tensors back)
SD_KINDS = frozenset({"sd1", "sd2", "inpaint", "depth", "upscale-x4"})
# ...and StableDiffusionXLPipeline's (four: hidden states and pooled, prompt and negative)
SDXL_KINDS = frozenset({"sdxl", "sdxl-refiner"})
SD_NAMES = ("prompt_embeds", "negative_prompt_embeds")
SDXL_NAMES = (*SD_NAMES, "pooled_prompt_embeds", "negative_pooled_prompt_embeds")
KEEP = 32  # prompts per loaded model; an SD 1.5 pair is about 0.5 MB in float32, SDXL's 1.2 MB


class PromptEmbeddings:
    def __init__(self, kind: str, keep: int = KEEP) -> None:
        self.kind = kind
        self.keep = keep
        self.names = SDXL_NAMES if kind in SDXL_KINDS else SD_NAMES if kind in SD_KINDS else ()
        self._kept: OrderedDict[tuple[Any, ...], tuple[Any, ...]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._kept)

    def arguments(
        self,
        pipe: Any,
        request: GenerationRequest,
        accepted: Container[str],
        keep: bool = True,
        clip_skip: int | None = None,
    ) -> dict[str, Any] | None:
        """The embeddings for this run's call (`prompt_embeds`, `negative_prompt_embeds`, and
        on SDXL the two pooled ones), in place of its `prompt`, `negative_prompt` and
        `clip_skip`; None when the pipeline encodes its own.

        `clip_skip` is the call's (the refiner's call takes none). With `keep` False nothing is
        read or kept; an SD clip skip is still encoded here, since the pipeline's own fails on
        transformers' flattened CLIPTextModel (see `encode`).
        """
        if not self.names or any(name not in accepted for name in self.names):
            return None
        cacheable = keep and not (request.loras or request.embeddings or request.cpu_offload)
        if not cacheable and (clip_skip is None or self.kind in SDXL_KINDS):
            return None
        negative = request.negative_prompt or None
        key = (request.prompt, negative, clip_skip, request.threads)
        kept = self._kept.get(key) if cacheable else None
        if kept is None:
            kept = encode(pipe, request.prompt, negative, clip_skip)
        if cacheable:
            self._kept[key] = kept  # newest last: the oldest goes first
            self._kept.move_to_end(key)
            while len(self._kept) > self.keep:
                self._kept.popitem(last=False)
        return dict(zip(self.names, kept, strict=True))


def encode(pipe: Any, prompt: str, negative: str | None, clip_skip: int | None) -> tuple[Any, ...]:
    """The prompt's and the negative prompt's embeddings, as `pipe.encode_prompt` makes them
    (SDXL's: then the pooled ones).

    With a clip skip, the prompt's are made here, as diffusers makes them: the hidden state
    `clip_skip` layers before the last, through the encoder's final layer norm (the negative
    prompt gets no skip in diffusers either). Diffusers reaches that norm as
    `text_encoder.text_model.final_layer_norm`, which transformers 5.6 removed when it
    flattened `CLIPTextModel` (diffusers issue 14124), so its own clip skip fails.
    """
    import torch

    device = pipe._execution_device
    with torch.no_grad():  # as inside the pipeline's call
        if hasattr(pipe, "text_encoder_2"):  # SDXL: its own clip skip works
            return pipe.encode_prompt(  # type: ignore[no-any-return]
                prompt,
                device=device,
                num_images_per_prompt=1,
                do_classifier_free_guidance=True,  # the negative too, as below
                negative_prompt=negative,
                clip_skip=clip_skip,
            )
        embeds = None
        if clip_skip is not None:
            embeds = _skipped(pipe, prompt, clip_skip, device)
            prompt = None  # type: ignore[assignment]
        return pipe.encode_prompt(  # type: ignore[no-any-return]
            prompt,
            device,
            1,
            True,  # the negative too: a call without guidance ignores it
            negative,
            prompt_embeds=embeds,
        )


def _skipped(pipe: Any, prompt: str, clip_skip: int, device: Any) -> Any:
    """diffusers' StableDiffusionPipeline.encode_prompt with a clip skip, step for step."""
    tokenizer, encoder = pipe.tokenizer, pipe.text_encoder
    if hasattr(pipe, "maybe_convert_prompt"):  # textual inversion: multi-vector tokens
        prompt = pipe.maybe_convert_prompt(prompt, tokenizer)
    tokens = tokenizer(
        prompt,
        padding="max_length",
        max_length=tokenizer.model_max_length,
        truncation=True,
        return_tensors="pt",
    )
    mask = None
    if getattr(encoder.config, "use_attention_mask", False):
        mask = tokens.attention_mask.to(device)
    hidden = encoder(tokens.input_ids.to(device), attention_mask=mask, output_hidden_states=True)
    norm = getattr(encoder, "text_model", encoder).final_layer_norm
    return norm(hidden[-1][-(clip_skip + 1)])
