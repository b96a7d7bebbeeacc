"""Measure whether `demo:sd` draws what the prompt says, through the app's own engine.

    .venv/bin/python -m training.evaluate_demo_sd [--json docs/demo-sd-eval.json]

Every prompt is held out from training: the eight held-out colour pairs, in the three held-out
phrasings and three training phrasings, for every shape (192 prompts), each with three seeds
(`--seeds N`; one seed set gives figures that move by about 2 points from set to set). Each
image is read back by `training/judge.py`. Reported:

- text2img at the model's default settings, and the same at guidance scale 1 (no
  classifier-free guidance): shape, shape colour and background colour right, and how often the
  two colours came out swapped;
- img2img: a rendered scene and a prompt asking for another shape colour: the new colour, the
  same background, the same shape, at the same place (mask overlap >= 0.5);
- inpaint (4-channel, latent blending): the shape's box masked, a prompt asking for another
  colour: the masked region's shape pixels take the new colour, and outside the mask at least
  95% of pixels keep the background colour.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from training import shapes
from training.judge import judge, nearest_colour, overlap, shape_pixels

MODEL = "demo:sd"


class Runner:
    """Runs requests through Generator.prepare + Engine.run (no files written)."""

    def __init__(self, home: Path) -> None:
        from core.engine.runner import Engine
        from core.generation import Generator
        from core.library import Library

        self.library = Library.open(home)
        self.generator = Generator(self.library, Engine())

    def images(self, request: Any) -> list[np.ndarray]:
        from core.engine.runner import EngineInputs

        prepared = self.generator.prepare(request)
        inputs = EngineInputs(**{k: v.image for k, v in prepared.inputs.items()})
        result = self.generator.engine.run(prepared.request, prepared.model, inputs, previews=False)
        return [np.asarray(g.image.convert("RGB")) for g in result.images]


SEED_STRIDE = (
    4000  # seed set k uses seeds base + i + seed_set * SEED_STRIDE (k = 0 is the first set)
)


def _seeded(items: list[Any], seeds: int) -> list[tuple[int, int, Any]]:
    """(seed set, index, item) for every item in every seed set."""
    return [(k, i, item) for k in range(seeds) for i, item in enumerate(items)]


def _by_set(tallies: list[list[int]]) -> list[float]:
    return [round(a / b, 3) for a, b in tallies]


def text2img(runner: Runner, cfg: float | None, limit: int | None, seeds: int) -> dict[str, Any]:
    from core.request import GenerationRequest

    prompts = shapes.eval_prompts()[:limit]
    right = {"shape": 0, "colour": 0, "background": 0, "all": 0, "swapped": 0}
    by_pair: dict[str, list[int]] = {}
    by_set = {"colour": [[0, 0] for _ in range(seeds)], "all": [[0, 0] for _ in range(seeds)]}
    examples: list[dict[str, Any]] = []
    for seed_set, i, (prompt, shape, colour, background) in _seeded(prompts, seeds):
        seed = 1000 + i + seed_set * SEED_STRIDE
        request = GenerationRequest("text2img", MODEL, prompt, seed=seed, cfg_scale=cfg)
        [image] = runner.images(request)
        v = judge(image)
        for key, ok in (
            ("colour", v.colour == colour),
            ("all", (v.shape, v.colour, v.background) == (shape, colour, background)),
        ):
            by_set[key][seed_set][0] += ok
            by_set[key][seed_set][1] += 1
        right["shape"] += v.shape == shape
        right["colour"] += v.colour == colour
        right["background"] += v.background == background
        right["all"] += (v.shape, v.colour, v.background) == (shape, colour, background)
        right["swapped"] += (v.colour, v.background) == (background, colour)
        tally = by_pair.setdefault(f"{colour} on {background}", [0, 0])
        tally[0] += (v.shape, v.colour, v.background) == (shape, colour, background)
        tally[1] += 1
        if len(examples) < 8 and (v.shape, v.colour, v.background) != (shape, colour, background):
            examples.append({"prompt": prompt, "seen": [v.shape, v.colour, v.background]})
    n = len(prompts) * seeds
    pairs = {k: round(a / b, 3) for k, (a, b) in sorted(by_pair.items())}
    return {
        "n": n,
        "seed_sets": seeds,
        **{k: round(v / n, 3) for k, v in right.items()},
        "colour_by_seed_set": _by_set(by_set["colour"]),
        "all_by_seed_set": _by_set(by_set["all"]),
        "all_by_pair": pairs,
        "misses": examples,
    }


def _edit_cases(limit: int | None) -> list[tuple[shapes.Scene, str]]:
    """(scene, new shape colour): each held-out pair's scene, asked for two other colours."""
    rng = np.random.default_rng(7)
    cases = []
    for colour, background in shapes.EVAL_PAIRS:
        for shape in shapes.SHAPES:
            scene = shapes.random_scene(rng, ((colour, background),))
            scene = shapes.Scene(shape, colour, background, 32.0, 32.0, scene.radius)
            others = [c for c in shapes.COLOURS if c not in (colour, background)]
            cases.append((scene, others[int(rng.integers(len(others)))]))
    return cases[:limit]


def img2img(runner: Runner, folder: Path, limit: int | None, seeds: int) -> dict[str, Any]:
    from PIL import Image

    from core.request import GenerationRequest

    right = {"colour": 0, "background": 0, "shape": 0, "place": 0, "all": 0}
    cases = _edit_cases(limit)
    for seed_set, i, (scene, new) in _seeded(cases, seeds):
        path = folder / f"init-{i}.png"
        Image.fromarray(shapes.render(scene)).save(path)
        prompt = shapes.caption(shapes.TRAIN_TEMPLATES[0], scene.shape, new, scene.background)
        request = GenerationRequest(
            "img2img",
            MODEL,
            prompt,
            seed=2000 + i + seed_set * SEED_STRIDE,
            init_image=str(path),
            strength=0.7,
        )
        [image] = runner.images(request)
        v = judge(image)
        mask, _ = shape_pixels(image)
        truth = shapes.shape_mask(scene)
        checks = {
            "colour": v.colour == new,
            "background": v.background == scene.background,
            "shape": v.shape == scene.shape,
            "place": overlap(mask, truth) >= 0.5,
        }
        for k, ok in checks.items():
            right[k] += ok
        right["all"] += all(checks.values())
    n = len(cases) * seeds
    return {"n": n, "strength": 0.7, **{k: round(v / n, 3) for k, v in right.items()}}


def inpaint(runner: Runner, folder: Path, limit: int | None, seeds: int) -> dict[str, Any]:
    from PIL import Image

    from core.request import GenerationRequest

    right = {"colour": 0, "outside_kept": 0, "all": 0}
    cases = _edit_cases(limit)
    for seed_set, i, (scene, new) in _seeded(cases, seeds):
        init, mask_path = folder / f"inpaint-{i}.png", folder / f"mask-{i}.png"
        Image.fromarray(shapes.render(scene)).save(init)
        box = np.zeros((shapes.SIZE, shapes.SIZE), dtype=bool)
        r = int(scene.radius) + 3
        box[32 - r : 32 + r, 32 - r : 32 + r] = True
        Image.fromarray((box * 255).astype(np.uint8)).save(mask_path)
        prompt = shapes.caption(shapes.TRAIN_TEMPLATES[0], scene.shape, new, scene.background)
        seed = 3000 + i + seed_set * SEED_STRIDE
        request = GenerationRequest(
            "inpaint", MODEL, prompt, seed=seed, init_image=str(init), mask=str(mask_path)
        )
        [image] = runner.images(request)
        pixels, _ = shape_pixels(image)
        inside = pixels & box
        colour = (
            nearest_colour(np.median(image[inside].astype(np.float64), axis=0))
            if inside.sum() >= 16
            else "none"
        )
        outside = [nearest_colour(p) for p in image[~box].astype(np.float64)]
        kept = outside.count(scene.background) / len(outside)
        checks = {"colour": colour == new, "outside_kept": kept >= 0.95}
        for k, ok in checks.items():
            right[k] += ok
        right["all"] += all(checks.values())
    n = len(cases) * seeds
    return {"n": n, **{k: round(v / n, 3) for k, v in right.items()}}


def vae_roundtrip(n: int = 192) -> dict[str, Any]:
    """Held-out scenes through the VAE alone (encode, decode), judged: the ceiling the decoder
    sets for everything the model draws."""
    import torch
    from diffusers import AutoencoderKL

    from core.models.demo import demo_model_path

    vae = AutoencoderKL.from_pretrained(demo_model_path(MODEL) / "vae").eval()
    rng = np.random.default_rng(3)
    scenes = [shapes.random_scene(rng, shapes.EVAL_PAIRS) for _ in range(n)]
    batch = np.stack([shapes.render(s) for s in scenes])
    x = torch.from_numpy(batch).permute(0, 3, 1, 2).float() / 127.5 - 1
    with torch.no_grad():
        y = vae.decode(vae.encode(x).latent_dist.mean).sample
    images = ((y.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy()
    right = {"shape": 0, "colour": 0, "background": 0}
    for image, scene in zip(images, scenes, strict=True):
        v = judge(image)
        right["shape"] += v.shape == scene.shape
        right["colour"] += v.colour == scene.colour
        right["background"] += v.background == scene.background
    return {"n": n, **{k: round(v / n, 3) for k, v in right.items()}}


def check_judge(n: int = 2000) -> float:
    rng = np.random.default_rng(5)
    ok = 0
    for _ in range(n):
        scene = shapes.random_scene(rng, shapes.TRAIN_PAIRS + shapes.EVAL_PAIRS)
        v = judge(shapes.render(scene))
        ok += (v.shape, v.colour, v.background) == (scene.shape, scene.colour, scene.background)
    return ok / n


def markdown(figures: dict[str, Any]) -> str:
    """The README's table of the figures."""

    def pct(part: str, key: str) -> str:
        value = figures[part].get(key)
        return "" if value is None else f"{value:.0%}"

    cfg = figures["defaults"]["cfg_scale"]
    rows = [
        "| held-out prompts | n | shape | shape colour | background | all three | swapped |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for part, label in (
        ("text2img_default", f"text2img, defaults (guidance {cfg:g})"),
        ("text2img_cfg1", "text2img, guidance 1"),
    ):
        rows.append(
            f"| {label} | {figures[part]['n']} | {pct(part, 'shape')} | {pct(part, 'colour')} "
            f"| {pct(part, 'background')} | {pct(part, 'all')} | {pct(part, 'swapped')} |"
        )
    i2i, inp, vae = figures["img2img"], figures["inpaint"], figures["vae_roundtrip"]
    rows += [
        "",
        "| edit | n | asked colour | background kept | shape kept | in place | all |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        f"| img2img, strength {i2i['strength']} | {i2i['n']} | {pct('img2img', 'colour')} "
        f"| {pct('img2img', 'background')} | {pct('img2img', 'shape')} "
        f"| {pct('img2img', 'place')} | {pct('img2img', 'all')} |",
        f"| inpaint (4-channel) | {inp['n']} | {pct('inpaint', 'colour')} "
        f"| {pct('inpaint', 'outside_kept')} | | | {pct('inpaint', 'all')} |",
        "",
        f"The VAE alone (held-out scenes encoded and decoded, n = {vae['n']}) keeps the shape "
        f"{pct('vae_roundtrip', 'shape')}, the shape colour {pct('vae_roundtrip', 'colour')} and "
        f"the background {pct('vae_roundtrip', 'background')} of the time: a ceiling for the "
        "rest. The judge is right on "
        f"{figures['judge_on_renders']:.0%} of the training renderer's own images.",
    ]
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--limit", type=int, help="only the first N prompts of each part")
    parser.add_argument(
        "--seeds",
        type=int,
        default=3,
        help="seed sets: every prompt and edit runs with this many seeds (default 3)",
    )
    parser.add_argument("--check-judge", action="store_true", help="only check the judge")
    parser.add_argument("--markdown", type=Path, help="print the table of a saved --json file")
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error(f"--seeds {args.seeds}: expected at least 1")
    if args.markdown:
        print(markdown(json.loads(args.markdown.read_text())))
        return 0
    if args.check_judge:
        print(f"judge right on {check_judge():.1%} of rendered scenes")
        return 0
    from core.models.demo import demo_defaults

    started = time.time()
    figures: dict[str, Any] = {"model": MODEL, "defaults": demo_defaults(MODEL)}
    figures["judge_on_renders"] = check_judge(500)
    with tempfile.TemporaryDirectory() as tmp:
        runner = Runner(Path(tmp) / "home")
        parts: tuple[tuple[str, Callable[[], dict[str, Any]]], ...] = (
            ("vae_roundtrip", vae_roundtrip),
            ("text2img_default", lambda: text2img(runner, None, args.limit, args.seeds)),
            ("text2img_cfg1", lambda: text2img(runner, 1.0, args.limit, args.seeds)),
            ("img2img", lambda: img2img(runner, Path(tmp), args.limit, args.seeds)),
            ("inpaint", lambda: inpaint(runner, Path(tmp), args.limit, args.seeds)),
        )
        for name, part in parts:
            t0 = time.time()
            figures[name] = part()
            print(
                f"{name}: {json.dumps(figures[name])} ({time.time() - t0:.0f} s)", file=sys.stderr
            )
        runner.library.close()
    figures["seconds"] = round(time.time() - started)
    text = json.dumps(figures, indent=2)
    if args.json:
        args.json.write_text(text + "\n")
    print(text)
    print(markdown(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
