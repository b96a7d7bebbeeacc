"""A prompt's text embeddings are reused between runs: the same pixels, one encoding, and a fresh
encoding whenever the encoder's output could differ (another prompt, negative, clip skip, thread
count, a LoRA or a textual inversion). SD and SDXL (base and refiner) alike."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from core_helpers import TASK_CASES, task_inputs

from core.engine.runner import Engine
from core.errors import BadInput
from core.generation import Generator
from core.library import Library
from core.request import GenerationRequest, LoraRef

PROMPT = "a red circle on a blue background"


@pytest.fixture(scope="session")
def uncached_engine() -> Engine:
    """Every run encodes its own prompt, as a bare diffusers call does."""
    return Engine(prompt_cache=False)


@pytest.fixture
def uncached(library: Library, uncached_engine: Engine) -> Generator:
    return Generator(library, uncached_engine)


@pytest.fixture
def cached(library: Library) -> Generator:
    """A new engine, so the first run of each model fills its cache and the second reuses it."""
    return Generator(library, Engine())


REFINED: dict[str, object] = {"refiner": "demo:sdxl-refiner", "high_noise_frac": 0.5}
TEXT2IMG: list[dict[str, object]] = [
    {"batch_size": 2},
    {"clip_skip": 1, "negative_prompt": "green"},
    {"cfg_scale": 1.0},  # no guidance: the negative goes unused
]
# Every task; on text2img a batch, a clip skip with a negative prompt, and no guidance; SDXL with
# its refiner, and SDXL's inpaint.
CASES: list[tuple[str, str, dict[str, object]]] = [
    *(case for case in TASK_CASES if case[0] != "text2img"),
    *(("text2img", model, extra) for model in ("demo:sd", "demo:sdxl") for extra in TEXT2IMG),
    ("text2img", "demo:sdxl", REFINED),
    ("text2img", "demo:sdxl", {**REFINED, "negative_prompt": "green"}),
    ("inpaint", "demo:sdxl", {"init": True, "mask": True}),
]
IDS = [f"{task}-{model}-{'-'.join(extra)}".rstrip("-") for task, model, extra in CASES]


@pytest.mark.slow  # a matrix of every task and option: `make test` runs it
@pytest.mark.parametrize(("task", "model", "extra"), CASES, ids=IDS)
def test_every_task_gives_the_same_pixels_with_kept_embeddings(
    cached: Generator,
    uncached: Generator,
    tmp_path: Path,
    init_png: Path,
    mask_png: Path,
    task: str,
    model: str,
    extra: dict[str, Any],
) -> None:
    kw = task_inputs(extra, tmp_path, init_png, mask_png)
    request = GenerationRequest(task=task, model=model, prompt=PROMPT, seed=7, steps=3, **kw)
    filled = cached.generate(request)
    models = [model, *([request.refiner] if request.refiner else [])]
    loaded = [cached.engine.cache.get(cached.resolve_model(m), "cpu", "float32") for m in models]
    assert [len(each.prompts) for each in loaded] == [1] * len(models)  # the run filled them...
    reused = cached.generate(request)
    assert [len(each.prompts) for each in loaded] == [1] * len(models)  # ...the second reused
    encoded = uncached.generate(request)
    assert [o.sha256 for o in filled] == [o.sha256 for o in reused] == [o.sha256 for o in encoded]


class EncoderCalls:
    """Counts the forward passes of the models' text encoders (SDXL's two) in one engine."""

    def __init__(self, generator: Generator, model: str = "demo:sd", *more: str) -> None:
        self.generator, self.model = generator, model
        self.calls = 0
        self._hooks = []
        for name in (model, *more):
            base = generator.engine.cache.get(generator.resolve_model(name), "cpu", "float32").base
            for encoder in (base.text_encoder, getattr(base, "text_encoder_2", None)):
                if encoder is not None:
                    self._hooks.append(encoder.register_forward_hook(self._count))

    def _count(self, *args: object) -> None:
        self.calls += 1

    def run(self, **kw: Any) -> tuple[int, str]:
        """(encoder passes of this run, the image's pixel hash)."""
        before = self.calls
        kw.setdefault("prompt", PROMPT)
        kw.setdefault("threads", 1)
        kw.setdefault("seed", 3)
        kw.setdefault("steps", 2)
        request = GenerationRequest(task="text2img", model=self.model, **kw)
        [out] = self.generator.generate(request)
        return self.calls - before, out.sha256

    def close(self) -> None:
        for hook in self._hooks:
            hook.remove()


@pytest.fixture
def encoder(cached: Generator) -> Iterator[EncoderCalls]:
    calls = EncoderCalls(cached)
    yield calls
    calls.close()


def test_a_prompt_is_encoded_once_and_again_only_when_its_encoding_could_differ(
    encoder: EncoderCalls, lora_file: Path
) -> None:
    passes, plain = encoder.run()
    assert passes == 2  # the prompt and the (empty) negative prompt
    assert encoder.run(seed=4, steps=3, cfg_scale=3.0)[0] == 0  # same words: nothing to encode
    assert encoder.run(prompt="a blue square")[0] == 2
    assert encoder.run(negative_prompt="green")[0] == 2
    assert encoder.run(clip_skip=2)[0] == 2
    assert encoder.run(threads=2)[0] == 2  # another split of the matmuls may round differently
    lora = (LoraRef(str(lora_file), 1.0),)
    assert encoder.run(loras=lora)[0] == 2  # the run encodes its own, and keeps nothing
    assert encoder.run(loras=lora)[0] == 2
    assert encoder.run() == (0, plain)  # after the LoRA: the kept embeddings, the same image


def test_clip_skip_runs_on_an_sd_model_the_same_with_or_without_kept_embeddings(
    cached: Generator, uncached: Generator
) -> None:
    """diffusers' own clip skip fails on transformers' flattened CLIPTextModel (no `text_model`);
    the engine encodes a skipped prompt itself, in both engines."""
    request = GenerationRequest(task="text2img", model="demo:sd", prompt=PROMPT, seed=5, steps=3)
    [plain] = cached.generate(request)
    skipped = request.replace(clip_skip=1)
    [first] = cached.generate(skipped)
    [kept] = cached.generate(skipped)
    [encoded] = uncached.generate(skipped)
    assert first.sha256 == kept.sha256 == encoded.sha256 != plain.sha256
    record = cached.library.runs.get_output(first.output_id)
    assert record is not None and json.loads(record.record_json)["request"]["clip_skip"] == 1


def test_a_skip_of_no_layers_is_the_encoders_own_output(cached: Generator) -> None:
    """The skip takes the hidden state `clip_skip` layers before the last and applies the final
    layer norm: with 0 layers skipped that is exactly the encoder's usual output."""
    from core.engine.prompts import encode

    loaded = cached.engine.cache.get(cached.resolve_model("demo:sd"), "cpu", "float32")
    plain, plain_negative = encode(loaded.base, PROMPT, "green", None)
    none_skipped, negative = encode(loaded.base, PROMPT, "green", 0)
    one_skipped, _ = encode(loaded.base, PROMPT, "green", 1)
    assert plain.equal(none_skipped) and plain_negative.equal(negative)
    assert not plain.equal(one_skipped)


def test_sdxl_and_its_refiner_encode_a_prompt_once(cached: Generator) -> None:
    """SDXL's two encoders and its refiner's one run for the first image of a prompt only."""
    encoders = EncoderCalls(cached, "demo:sdxl", "demo:sdxl-refiner")
    try:
        passes, plain = encoders.run()
        assert passes > 0
        assert encoders.run(seed=4, cfg_scale=3.0)[0] == 0
        assert encoders.run() == (0, plain)
        refined, first = encoders.run(**REFINED)
        assert refined > 0  # the refiner's own encoder, for its own embeddings
        assert encoders.run(**REFINED) == (0, first)
        assert encoders.run(prompt="a blue square", **REFINED)[0] > refined  # both models again
        assert encoders.run(negative_prompt="green")[0] > 0
        assert encoders.run(clip_skip=1)[0] > 0
        assert encoders.run(threads=2)[0] > 0
    finally:
        encoders.close()


@pytest.mark.parametrize(("model", "most"), [("demo:sd", 3), ("demo:sdxl", 1)])
def test_a_clip_skip_past_the_first_layer_is_a_clear_error(
    cached: Generator, model: str, most: int
) -> None:
    """demo:sd's encoder has 3 layers; SDXL counts from the next-to-last layer of the
    shallower of its two, which leaves demo:sdxl one to skip. The pipeline's IndexError was
    all a user saw before."""
    request = GenerationRequest(task="text2img", model=model, prompt=PROMPT, seed=5, steps=2)
    cached.generate(request.replace(clip_skip=most))
    with pytest.raises(BadInput, match=f"clip_skip: {most + 1} skips past .*at most {most}"):
        cached.generate(request.replace(clip_skip=most + 1))
