"""A1111 infotext: written in A1111's layout, read back by A1111's algorithm, never hangs."""

from __future__ import annotations

import time

import pytest

from core.errors import BadInput
from core.formats.a1111 import (
    MAX_INFOTEXT_CHARS,
    SAMPLER_NAMES,
    clip_skip_from_a1111,
    from_a1111_sampler,
    parse_infotext,
    to_a1111_sampler,
    to_infotext,
)
from core.request import GenerationRequest, LoraRef

# Written by hand in the layout A1111 1.7 saves: a multi-line prompt with a LoRA tag, a multi-line
# negative prompt, the old "DPM++ 2M Karras" sampler form and quoted hash lists.
A1111_EXAMPLE = """masterpiece, best quality, a lighthouse on a cliff,
(dramatic sky:1.2), <lora:detail_tweaker:0.6>
Negative prompt: lowres, bad anatomy,
watermark, (worst quality:1.4)
Steps: 28, Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: 2179987202, Size: 768x512, \
Model hash: 93b79e09ed, Model: anything-v4.5, Denoising strength: 0.55, Clip skip: 2, \
Hires upscale: 2, Hires upscaler: Latent, Lora hashes: "detail_tweaker: e3b0c44298fc", \
TI hashes: "easynegative: c74b4e810b03, bad-hands-5: 0123456789ab", Version: v1.7.0"""


def _request(**changes: object) -> GenerationRequest:
    base = GenerationRequest(
        task="img2img",
        model="models/dream, v2.safetensors",
        prompt="a cat: sitting, on a mat\nsecond line «ü» 日本",
        negative_prompt="blurry, low quality",
        seed=None,
        steps=30,
        cfg_scale=7.5,
        width=512,
        height=768,
        scheduler="dpmpp_2m_karras",
        init_image="in.png",
        strength=0.6,
        clip_skip=1,
        loras=(LoraRef("loras/a.safetensors", 0.8),),
    )
    return base.replace(**changes)


def test_infotext_layout_matches_a1111() -> None:
    text = to_infotext(_request(), 42, "dream", "0123456789abcdef" * 4, {"a": "fedcba9876543210"})
    prompt1, prompt2, negative, params = text.split("\n")
    assert (prompt1, prompt2) == ("a cat: sitting, on a mat", "second line «ü» 日本")
    assert negative == "Negative prompt: blurry, low quality"
    assert params == (
        "Steps: 30, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7.5, Seed: 42, "
        "Size: 512x768, Model hash: 0123456789, Model: dream, Denoising strength: 0.6, "
        'Clip skip: 2, Lora hashes: "a: fedcba987654", Version: atelier 0.1.0'
    )


def test_round_trip_gives_back_every_field() -> None:
    request = _request()
    parsed = parse_infotext(to_infotext(request, 1234567890123, 'my, "odd": model', "ab" * 32))
    assert parsed["Prompt"] == request.prompt
    assert parsed["Negative prompt"] == request.negative_prompt
    assert parsed["Steps"] == "30"
    assert from_a1111_sampler(parsed["Sampler"], parsed["Schedule type"]) == "dpmpp_2m_karras"
    assert float(parsed["CFG scale"]) == 7.5
    assert parsed["Seed"] == "1234567890123"
    assert (parsed["Size-1"], parsed["Size-2"]) == ("512", "768")
    assert parsed["Model hash"] == "ababababab"
    assert parsed["Model"] == 'my, "odd": model'
    assert float(parsed["Denoising strength"]) == 0.6
    assert clip_skip_from_a1111(int(parsed["Clip skip"])) == request.clip_skip


def test_text2img_has_no_denoising_or_negative_line() -> None:
    request = _request(task="text2img", init_image=None, negative_prompt="", clip_skip=None)
    text = to_infotext(request, 5, "dream", None)
    assert "Negative prompt" not in text and "Denoising strength" not in text
    assert "Clip skip" not in text and "Model hash" not in text
    parsed = parse_infotext(text)
    assert parsed["Negative prompt"] == "" and parsed["Seed"] == "5"


def test_real_a1111_example_parses() -> None:
    parsed = parse_infotext(A1111_EXAMPLE)
    assert parsed["Prompt"] == (
        "masterpiece, best quality, a lighthouse on a cliff,\n"
        "(dramatic sky:1.2), <lora:detail_tweaker:0.6>"
    )
    assert parsed["Negative prompt"] == "lowres, bad anatomy,\nwatermark, (worst quality:1.4)"
    assert parsed["Steps"] == "28" and parsed["CFG scale"] == "7"
    assert from_a1111_sampler(parsed["Sampler"], parsed.get("Schedule type")) == "dpmpp_2m_karras"
    assert (parsed["Size-1"], parsed["Size-2"]) == ("768", "512")
    assert parsed["Model hash"] == "93b79e09ed" and parsed["Model"] == "anything-v4.5"
    assert parsed["Lora hashes"] == "detail_tweaker: e3b0c44298fc"
    assert parsed["TI hashes"] == "easynegative: c74b4e810b03, bad-hands-5: 0123456789ab"
    assert parsed["Hires upscaler"] == "Latent" and parsed["Version"] == "v1.7.0"


def test_text_without_parameters_is_all_prompt() -> None:
    assert parse_infotext("just a prompt, nothing: else") == {
        "Prompt": "just a prompt, nothing: else",
        "Negative prompt": "",
    }
    assert parse_infotext("") == {"Prompt": "", "Negative prompt": ""}


@pytest.mark.parametrize("name", sorted(SAMPLER_NAMES))
def test_every_scheduler_maps_both_ways(name: str) -> None:
    sampler, schedule = to_a1111_sampler(name)
    assert from_a1111_sampler(sampler, schedule) == name
    assert from_a1111_sampler(sampler, schedule or "Automatic") == name


def test_sampler_names_old_forms_and_unknowns() -> None:
    assert to_a1111_sampler("dpmpp_2m_karras") == ("DPM++ 2M", "Karras")
    assert to_a1111_sampler("pndm") == ("PLMS", None)
    assert from_a1111_sampler("DPM++ 2M Karras") == "dpmpp_2m_karras"
    assert from_a1111_sampler("DPM++ 2M", "Karras") == "dpmpp_2m_karras"
    assert from_a1111_sampler("Euler a", "Automatic") == "euler_a"
    assert from_a1111_sampler("Euler", "Exponential") is None
    assert from_a1111_sampler("Restart") is None
    with pytest.raises(BadInput, match="scheduler"):
        to_a1111_sampler("nope")


HOSTILE = {
    "spaces": " " * 200_000 + ":",
    "letters": "a" * 200_000,
    "words": "a " * 100_000,
    "dashes": "a-/" * 70_000,
    "quotes": 'k: "' * 50_000,
    "escapes": 'a: "\\", ' * 25_000,
    "pairs": "k: v, " * 35_000,
    "lines": "x\n" * 100_000,
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_text_parses_fast(name: str) -> None:
    start = time.perf_counter()
    parsed = parse_infotext(HOSTILE[name])
    assert time.perf_counter() - start < 1.0
    assert "Prompt" in parsed


def test_oversized_text_is_bad_input_naming_the_source() -> None:
    with pytest.raises(BadInput, match=r"^photo\.png: .*at most"):
        parse_infotext("x" * (MAX_INFOTEXT_CHARS + 1), source="photo.png")
