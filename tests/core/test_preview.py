"""The step preview shows something (at least 64 px) in the final image's colours."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from core.engine.preview import MIN_PREVIEW_PX
from core.engine.runner import StepProgress
from core.generation import Generator
from core.request import GenerationRequest


def _mean(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.float32).reshape(-1, 3).mean(axis=0)


@pytest.mark.parametrize(
    "prompt", ["a green circle on a white background", "a red square on a blue background"]
)
def test_last_preview_has_the_final_images_colours(generator: Generator, prompt: str) -> None:
    events: list[StepProgress] = []
    request = GenerationRequest(task="text2img", model="demo:sd", prompt=prompt, seed=5, steps=8)
    [out] = generator.generate(request, on_step=events.append)
    preview = events[-1].preview
    assert isinstance(preview, Image.Image) and min(preview.size) >= MIN_PREVIEW_PX
    final = Image.open(out.path)
    mean_preview, mean_final = _mean(preview), _mean(final)
    assert np.abs(mean_preview - mean_final).max() < 12, (mean_preview, mean_final)
    # the dominant channel agrees where the image has one (the old factors showed red for green)
    small = np.asarray(preview.resize((8, 8)), dtype=np.float32)
    target = np.asarray(final.convert("RGB").resize((8, 8)), dtype=np.float32)
    assert np.abs(small - target).mean() < 20


def test_previews_are_spaced_by_their_decode_time_and_the_last_step_has_one() -> None:
    """Back-to-back steps (faster than a decode) get a preview only now and then."""
    import diffusers
    import torch

    from core.engine.runner import _Progress
    from core.models.demo import demo_model_path

    vae = diffusers.AutoencoderKL.from_pretrained(demo_model_path("demo:sd"), subfolder="vae")
    events: list[StepProgress] = []
    progress = _Progress(0, 1, events.append, None, True)
    latents = torch.zeros(1, 4, 64, 64)  # pooled to 16x16 before the decode
    for step in range(1, 21):
        progress.step("base", step, 20, latents, vae)
    made = [e.step for e in events if e.preview is not None]
    assert made[0] == 1 and made[-1] == 20
    assert len(made) < 20
    assert min(events[-1].preview.size) >= MIN_PREVIEW_PX
