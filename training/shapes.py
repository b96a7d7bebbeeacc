"""The procedural data set `demo:sd` learns from: one shape, one colour, on a background of another.

Everything here is plain numpy and Pillow, seeded, so the same seed gives the same images and
captions on every machine. The split between what training sees and what evaluation holds back
lives here too, so the two can never drift apart:

- colour pairs: eight (shape colour, background colour) pairs never appear in training; each
  colour is held out once as a shape colour and once as a background;
- phrasings: three caption templates are used only for evaluation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

SIZE = 64
PALETTE: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "orange": (245, 140, 20),
    "yellow": (245, 220, 30),
    "green": (40, 170, 60),
    "blue": (30, 70, 220),
    "purple": (140, 50, 180),
    "black": (20, 20, 20),
    "white": (240, 240, 240),
}
COLOURS: tuple[str, ...] = tuple(PALETTE)
SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "star")

# Held-out colour pairs: colour i on colour i+3, so every colour is held out once in each role.
HELD_OUT_PAIRS: frozenset[tuple[str, str]] = frozenset(
    (COLOURS[i], COLOURS[(i + 3) % len(COLOURS)]) for i in range(len(COLOURS))
)
TRAIN_PAIRS: tuple[tuple[str, str], ...] = tuple(
    (c, b) for c in COLOURS for b in COLOURS if c != b and (c, b) not in HELD_OUT_PAIRS
)
EVAL_PAIRS: tuple[tuple[str, str], ...] = tuple(sorted(HELD_OUT_PAIRS))

# {a}: the article for the shape colour, {c}: shape colour, {s}: shape, {b}: background colour.
TRAIN_TEMPLATES: tuple[str, ...] = (
    "{a} {c} {s} on a {b} background",
    "{c} {s}, {b} background",
    "a {b} background with {a} {c} {s}",
    "{a} {c} {s} on {b}",
    "{a} {c} {s} against a {b} background",
    "{c} {s} on {b} background",
    "a {b} background and {a} {c} {s}",
    "{a} {c} {s} in front of a {b} background",
    "{b} background, {c} {s}",
    "a picture of {a} {c} {s} on a {b} background",
)
EVAL_TEMPLATES: tuple[str, ...] = (
    "{a} {c} {s} with a {b} background",
    "{b} background with {a} {c} {s}",
    "a {c} {s}, on a {b} background",
)
# Captions that leave the background open; the image then has any background.
PARTIAL_TEMPLATES: tuple[str, ...] = ("{a} {c} {s}", "{c} {s}")
CAPTION_DROPOUT = 0.10
PARTIAL_RATE = 0.08


@dataclass(frozen=True)
class Scene:
    shape: str
    colour: str
    background: str
    cx: float
    cy: float
    radius: float


def article(colour: str) -> str:
    return "an" if colour[0] in "aeiou" else "a"


def caption(template: str, shape: str, colour: str, background: str) -> str:
    """A caption from a template; "a" before a vowel sound is corrected to "an"."""
    text = template.format(a=article(colour), c=colour, s=shape, b=background)
    return text.replace("a orange", "an orange")


def vocabulary() -> list[str]:
    """Every word any caption uses, training or evaluation (the tokenizer knows all of them)."""
    words: set[str] = set(COLOURS) | set(SHAPES) | {"a", "an"}
    for template in TRAIN_TEMPLATES + EVAL_TEMPLATES + PARTIAL_TEMPLATES:
        for piece in template.replace(",", " , ").split():
            if not piece.startswith("{"):
                words.add(piece)
    return sorted(words)


def random_scene(rng: np.random.Generator, pairs: tuple[tuple[str, str], ...]) -> Scene:
    colour, background = pairs[int(rng.integers(len(pairs)))]
    radius = float(rng.uniform(10.0, 22.0))
    margin = radius + 2.0
    return Scene(
        shape=SHAPES[int(rng.integers(len(SHAPES)))],
        colour=colour,
        background=background,
        cx=float(rng.uniform(margin, SIZE - margin)),
        cy=float(rng.uniform(margin, SIZE - margin)),
        radius=radius,
    )


def shape_polygon(shape: str, cx: float, cy: float, r: float) -> list[tuple[float, float]]:
    """The outline of a shape as points (circles are drawn as a 64-gon)."""
    if shape == "circle":
        n = 64
        return [
            (cx + r * math.cos(2 * math.pi * k / n), cy + r * math.sin(2 * math.pi * k / n))
            for k in range(n)
        ]
    if shape == "square":
        h = r * 0.85
        return [(cx - h, cy - h), (cx + h, cy - h), (cx + h, cy + h), (cx - h, cy + h)]
    if shape == "triangle":
        return [(cx, cy - r), (cx + r * 0.95, cy + r * 0.75), (cx - r * 0.95, cy + r * 0.75)]
    if shape == "star":
        points = []
        for k in range(10):
            radius = r if k % 2 == 0 else r * 0.45
            angle = -math.pi / 2 + k * math.pi / 5
            points.append((cx + radius * math.cos(angle), cy + radius * math.sin(angle)))
        return points
    raise ValueError(f"unknown shape {shape!r}")


def render(scene: Scene, size: int = SIZE, supersample: int = 4) -> np.ndarray:
    """The scene as an (size, size, 3) uint8 array, anti-aliased by supersampling."""
    big = size * supersample
    image = Image.new("RGB", (big, big), PALETTE[scene.background])
    s = supersample
    polygon = [
        (x * s, y * s) for x, y in shape_polygon(scene.shape, scene.cx, scene.cy, scene.radius)
    ]
    ImageDraw.Draw(image).polygon(polygon, fill=PALETTE[scene.colour])
    return np.asarray(image.resize((size, size), Image.Resampling.BOX), dtype=np.uint8)


def shape_mask(scene: Scene, size: int = SIZE) -> np.ndarray:
    """Boolean mask of the pixels the shape covers (at least half)."""
    image = Image.new("L", (size * 4, size * 4), 0)
    polygon = [
        (x * 4, y * 4) for x, y in shape_polygon(scene.shape, scene.cx, scene.cy, scene.radius)
    ]
    ImageDraw.Draw(image).polygon(polygon, fill=255)
    return np.asarray(image.resize((size, size), Image.Resampling.BOX)) >= 128


def training_caption(rng: np.random.Generator, scene: Scene) -> tuple[str, bool]:
    """A caption for a training scene, and whether it names the background.

    10% are empty (caption dropout, so classifier-free guidance works); some name only the shape.
    """
    roll = float(rng.random())
    if roll < CAPTION_DROPOUT:
        return "", False
    if roll < CAPTION_DROPOUT + PARTIAL_RATE:
        template = PARTIAL_TEMPLATES[int(rng.integers(len(PARTIAL_TEMPLATES)))]
        return caption(template, scene.shape, scene.colour, scene.background), False
    template = TRAIN_TEMPLATES[int(rng.integers(len(TRAIN_TEMPLATES)))]
    return caption(template, scene.shape, scene.colour, scene.background), True


def eval_prompts() -> list[tuple[str, str, str, str]]:
    """Held-out (prompt, shape, colour, background): held-out pairs, every template, every shape."""
    prompts = []
    for colour, background in EVAL_PAIRS:
        for shape in SHAPES:
            for template in EVAL_TEMPLATES + TRAIN_TEMPLATES[:3]:
                prompts.append(
                    (caption(template, shape, colour, background), shape, colour, background)
                )
    return prompts
