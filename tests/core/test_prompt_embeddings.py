"""A prompt's text embeddings are reused between runs: the same pixels, one encoding, and a fresh
encoding whenever the encoder's output could differ (another prompt, negative, clip skip, thread
count, a LoRA or a textual inversion)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from core_helpers import TASK_CASES, case_ids, task_inputs

from core.engine.runner import Engine
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


# Every SD task (SDXL encodes its own), and on text2img a batch, a clip skip with a negative
# prompt, and no guidance.
CASES = [
    ("text2img", "demo:sd", {"batch_size": 2}),
    ("text2img", "demo:sd", {"clip_skip": 2, "negative_prompt": "green"}),
    ("text2img", "demo:sd", {"cfg_scale": 1.0}),  # no guidance: the negative goes unused
    *(case for case in TASK_CASES if case[0] != "text2img" and "sdxl" not in case[1]),
]


@pytest.mark.parametrize(("task", "model", "extra"), CASES, ids=case_ids(CASES))
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
    loaded = cached.engine.cache.get(cached.resolve_model(model), "cpu", "float32")
    assert len(loaded.prompts) == 1  # the run filled the cache...
    reused = cached.generate(request)
    assert len(loaded.prompts) == 1  # ...and the second run took its entry
    encoded = uncached.generate(request)
    assert [o.sha256 for o in filled] == [o.sha256 for o in reused] == [o.sha256 for o in encoded]


class EncoderCalls:
    """Counts the forward passes of demo:sd's text encoder in one engine."""

    def __init__(self, generator: Generator) -> None:
        self.generator = generator
        loaded = generator.engine.cache.get(generator.resolve_model("demo:sd"), "cpu", "float32")
        self.calls = 0
        self._hook = loaded.base.text_encoder.register_forward_hook(self._count)

    def _count(self, *args: object) -> None:
        self.calls += 1

    def run(self, **kw: Any) -> tuple[int, str]:
        """(encoder passes of this run, the image's pixel hash)."""
        before = self.calls
        kw.setdefault("prompt", PROMPT)
        kw.setdefault("threads", 1)
        kw.setdefault("seed", 3)
        kw.setdefault("steps", 2)
        [out] = self.generator.generate(GenerationRequest(task="text2img", model="demo:sd", **kw))
        return self.calls - before, out.sha256

    def close(self) -> None:
        self._hook.remove()


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
