"""demo:sd is a trained model: what it draws must match the prompt, through the app.

Each image is read back by training/judge.py (background = the border's colour, shape colour =
the median of the pixels that differ from it, shape from fill and convexity). Thresholds leave
room for a miss: on held-out prompts the model gets each aspect right 87-97% of the time
(README).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.generation import Generator
from core.models.demo import demo_model_path
from core.request import GenerationRequest
from training import shapes
from training.judge import judge, nearest_colour, overlap, shape_pixels

pytestmark = pytest.mark.slow  # judges what the trained model draws: `make test` runs it


def _pixels(path: str) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def test_the_judge_reads_rendered_scenes_right() -> None:
    rng = np.random.default_rng(11)
    for _ in range(200):
        scene = shapes.random_scene(rng, shapes.TRAIN_PAIRS + shapes.EVAL_PAIRS)
        v = judge(shapes.render(scene))
        assert (v.shape, v.colour, v.background) == (scene.shape, scene.colour, scene.background)


def test_every_demo_word_is_one_token_as_in_training() -> None:
    from transformers import CLIPTokenizer

    tokenizer = CLIPTokenizer.from_pretrained(demo_model_path("demo:sd") / "tokenizer")
    for word in shapes.vocabulary():
        assert len(tokenizer(word).input_ids) == 3, word  # start, the word, end
    ids = tokenizer("a red circle on a blue background").input_ids
    assert tokenizer.convert_ids_to_tokens(ids)[1:-1] == [
        f"{w}</w>" for w in ("a", "red", "circle", "on", "a", "blue", "background")
    ]


PROMPTS = [
    ("a red circle on a blue background", "circle", "red", "blue"),
    ("a yellow star on a purple background", "star", "yellow", "purple"),
    ("a green square on a white background", "square", "green", "white"),
    # held out from training: colour pair and phrasing
    ("a black circle, on an orange background", "circle", "black", "orange"),
    ("red background with a purple triangle", "triangle", "purple", "red"),
    ("a blue square with a white background", "square", "blue", "white"),
]


def test_text2img_draws_the_prompted_colours_and_shape(generator: Generator) -> None:
    right = {"colour": 0, "background": 0, "shape": 0}
    for i, (prompt, shape, colour, background) in enumerate(PROMPTS):
        [out] = generator.generate(GenerationRequest("text2img", "demo:sd", prompt, seed=i))
        assert Path(out.path).is_file()
        v = judge(_pixels(out.path))
        right["colour"] += v.colour == colour
        right["background"] += v.background == background
        right["shape"] += v.shape == shape
    # A red prompt gives mostly red shape pixels, and so on: at most one miss in six per aspect.
    assert min(right.values()) >= len(PROMPTS) - 1, right


def test_a_red_prompt_gives_red_shape_pixels(generator: Generator) -> None:
    [out] = generator.generate(
        GenerationRequest("text2img", "demo:sd", "a red square on a white background", seed=5)
    )
    image = _pixels(out.path)
    mask, background = shape_pixels(image)
    assert nearest_colour(background) == "white"
    assert mask.mean() > 0.05  # a shape stands out
    reds = [nearest_colour(p) == "red" for p in image[mask].astype(np.float64)]
    assert np.mean(reds) > 0.7


def _scene_png(tmp_path: Path, scene: shapes.Scene) -> Path:
    path = tmp_path / "scene.png"
    Image.fromarray(shapes.render(scene)).save(path)
    return path


EDITS = [
    (shapes.Scene("circle", "red", "blue", 30, 34, 16), "green"),
    (shapes.Scene("square", "yellow", "black", 34, 30, 15), "white"),
    (shapes.Scene("triangle", "orange", "purple", 32, 32, 18), "red"),
    (shapes.Scene("star", "white", "green", 30, 30, 18), "black"),
]


def test_img2img_recolours_and_keeps_the_layout(generator: Generator, tmp_path: Path) -> None:
    kept = []
    for scene, new_colour in EDITS:
        init = _scene_png(tmp_path, scene)
        prompt = shapes.caption(
            shapes.TRAIN_TEMPLATES[0], scene.shape, new_colour, scene.background
        )
        request = GenerationRequest(
            "img2img", "demo:sd", prompt, seed=2, init_image=str(init), strength=0.7
        )
        [out] = generator.generate(request)
        image = _pixels(out.path)
        v = judge(image)
        mask, _ = shape_pixels(image)
        truth = shapes.shape_mask(scene)
        # The new colour, the same background, and the shape where it was.
        kept.append(
            (v.colour, v.background, overlap(mask, truth) > 0.5)
            == (new_colour, scene.background, True)
        )
    # The evaluation measures all three right in about two edits in three (README); here at
    # most one miss in four.
    assert sum(kept) >= len(EDITS) - 1, kept


def test_inpaint_paints_the_prompted_colour_into_the_mask(
    generator: Generator, tmp_path: Path
) -> None:
    scene = shapes.Scene("circle", "red", "blue", 32, 32, 14)
    init = _scene_png(tmp_path, scene)
    box = np.zeros((64, 64), dtype=bool)
    box[14:50, 14:50] = True
    mask_path = tmp_path / "mask.png"
    Image.fromarray((box * 255).astype(np.uint8)).save(mask_path)
    made = {}
    for seed in range(3):
        [out] = generator.generate(
            GenerationRequest(
                "inpaint",
                "demo:sd",
                "a yellow circle on a blue background",
                seed=seed,
                init_image=str(init),
                mask=str(mask_path),
            )
        )
        image = _pixels(out.path)
        pixels, _ = shape_pixels(image)
        inside = pixels & box
        made[seed] = nearest_colour(np.median(image[inside].astype(np.float64), axis=0))
        # Outside the mask the background stays blue.
        outside = [nearest_colour(p) for p in image[~box].astype(np.float64)]
        assert outside.count("blue") / len(outside) > 0.95
    assert list(made.values()).count("yellow") >= 2, made
