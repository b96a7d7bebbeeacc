"""Teach `demo:sd` one subject and measure it: the fine-tuning check of issue 23.

The subject is a purple star. Six instance images show it on three backgrounds (two each, at
different places and sizes); the evaluation asks for it on four backgrounds the instance images
never had, with eight seeds each, and reads every image back with `training.judge`:

- subject fidelity: shape and shape colour both right (a purple star);
- background: the asked background right (recontextualisation);
- prior preservation: the base model's own held-out prompts (`shapes.eval_prompts()`, the
  prompts of docs/demo-sd-eval.json), all three right, before and after.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from training import shapes
from training.judge import judge

SUBJECT = ("star", "purple")
INSTANCE_BACKGROUNDS = ("yellow", "blue", "orange")
EVAL_BACKGROUNDS = ("green", "white", "black", "red")
EVAL_SEEDS = tuple(range(500, 508))
IDENTIFIER = "zxq"


def render_instances(
    folder: Path,
    count: int = 6,
    seed: int = 0,
    captions: bool = True,
    identifier: str = IDENTIFIER,
) -> list[Path]:
    """`count` instance images of the subject, cycling through the instance backgrounds; with
    `captions`, each gets a `name.txt` naming its background ("a zxq star on a yellow
    background"), so what the images share is the subject and not the background."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(count):
        radius = float(rng.uniform(15.0, 22.0))
        margin = radius + 2.0
        scene = shapes.Scene(
            SUBJECT[0],
            SUBJECT[1],
            INSTANCE_BACKGROUNDS[i % len(INSTANCE_BACKGROUNDS)],
            float(rng.uniform(margin, shapes.SIZE - margin)),
            float(rng.uniform(margin, shapes.SIZE - margin)),
            radius,
        )
        path = folder / f"subject-{i}.png"
        Image.fromarray(shapes.render(scene)).save(path)
        if captions:
            text = f"a {identifier} {SUBJECT[0]} on a {scene.background} background"
            path.with_suffix(".txt").write_text(text + "\n", encoding="utf-8")
        paths.append(path)
    return paths


def subject_prompts(identifier: str = IDENTIFIER) -> list[tuple[str, str]]:
    """(prompt, asked background) for every evaluation background."""
    return [
        (f"a {identifier} {SUBJECT[0]} on a {background} background", background)
        for background in EVAL_BACKGROUNDS
    ]


def class_prompts(count: int = 32, seed: int = 0) -> str:
    """DreamBooth class prompts for demo:sd, `|`-separated: the base model's own kind of caption
    ("a red star on a blue background"), every shape in turn, colour pairs drawn from its
    training pairs (never a held-out pair: the held-out score measures those)."""
    rng = np.random.default_rng(seed)
    prompts = []
    for i in range(count):
        colour, background = shapes.TRAIN_PAIRS[int(rng.integers(len(shapes.TRAIN_PAIRS)))]
        shape = shapes.SHAPES[i % len(shapes.SHAPES)]
        prompts.append(shapes.caption(shapes.TRAIN_TEMPLATES[0], shape, colour, background))
    return "|".join(prompts)


@dataclass(frozen=True)
class SubjectScore:
    fidelity: float  # shape and colour both right
    background: float  # the asked background right
    n: int

    def to_dict(self) -> dict[str, Any]:
        return {"fidelity": self.fidelity, "background": self.background, "n": self.n}


class Renderer:
    """Requests through Generator.prepare + Engine.run: images in memory, nothing recorded."""

    def __init__(self, library: Any) -> None:
        from core.generation import Generator

        self.generator = Generator(library)

    def images(self, request: Any) -> list[np.ndarray]:
        from core.engine.runner import EngineInputs

        prepared = self.generator.prepare(request)
        result = self.generator.engine.run(
            prepared.request, prepared.model, EngineInputs(), previews=False
        )
        return [np.asarray(g.image.convert("RGB")) for g in result.images]


def score_subject(
    renderer: Renderer,
    model: str,
    identifier: str = IDENTIFIER,
    loras: tuple[Any, ...] = (),
    embeddings: tuple[Any, ...] = (),
    seeds: tuple[int, ...] = EVAL_SEEDS,
) -> SubjectScore:
    from core.request import GenerationRequest

    right = background_right = n = 0
    for prompt, background in subject_prompts(identifier):
        for seed in seeds:
            request = GenerationRequest(
                "text2img", model, prompt, seed=seed, loras=loras, embeddings=embeddings
            )
            verdict = judge(renderer.images(request)[0])
            right += (verdict.shape, verdict.colour) == SUBJECT
            background_right += verdict.background == background
            n += 1
    return SubjectScore(right / n, background_right / n, n)


def held_out_score(renderer: Renderer, model: str, every: int = 4, **extra: Any) -> float:
    """All three right on every `every`-th held-out prompt of docs/demo-sd-eval.json (seed
    1000 + index, the defaults), as that evaluation's first seed set does."""
    from core.request import GenerationRequest

    prompts = shapes.eval_prompts()
    right = n = 0
    for i in range(0, len(prompts), every):
        prompt, shape, colour, background = prompts[i]
        request = GenerationRequest("text2img", model, prompt, seed=1000 + i, **extra)
        verdict = judge(renderer.images(request)[0])
        right += (verdict.shape, verdict.colour, verdict.background) == (shape, colour, background)
        n += 1
    return right / n
