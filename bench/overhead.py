"""Overhead: the same requests through the whole app path versus a bare diffusers script.

App: a job is queued, claimed by the running worker, run by the engine, written as a PNG with
its record into the store, and committed to the library. Bare: `StableDiffusionPipeline` on the
same folder with the same prompt, steps, guidance, size, scheduler and seed, output_type "pil",
nothing written. The two run in two processes, alternating image by image (ABBA order), after
one warm-up image each; the case is the ratio of the median per-image times. The images must be
pixel-identical (same seed and settings), which checks that both did the same work.

Every image has the same prompt, as a batch or sweep does: the app encodes it once and keeps the
embeddings (core.engine.prompts), the bare script encodes it every image, as a bare loop does.
`app_fixed_ms` (the app's wall time minus its engine's own time) is what the app adds around the
model, which the kept embeddings do not hide.
"""

from __future__ import annotations

from typing import Any

from bench.common import NEGATIVE, PROMPT, Case, fresh_home, log, median
from bench.proc import Proc

TARGET_RATIO = 1.03


def compare(
    name: str, label: str, spec: dict[str, Any], warm_spec: dict[str, Any], pairs: int
) -> tuple[Case, dict[str, Any]]:
    """The overhead case, and the app process's memory (peak and current RSS, MB)."""
    app_s: list[float] = []
    app_fixed_s: list[float] = []  # the app's wall time minus its engine's own time
    bare_s: list[float] = []
    identical = True
    with fresh_home(name) as home, Proc("app", home) as app, Proc("bare") as bare:
        log(f"{name}: warm-up (loads the model on both sides)")
        threads = app.call("run", spec=warm_spec, seed=1)["threads"]
        # The bare script runs with the thread count the app chose for the same request.
        bare_spec = {**spec, "threads": threads}
        bare.call("run", spec={**warm_spec, "threads": threads}, seed=1)
        for i in range(pairs):
            seed = 1000 + i
            order = (app, bare) if i % 2 == 0 else (bare, app)
            got: dict[str, dict[str, Any]] = {}
            for side in order:
                side_spec = spec if side is app else bare_spec
                got[side.side] = side.call("run", spec=side_spec, seed=seed)
            app_s.append(got["app"]["seconds"])
            app_fixed_s.append(got["app"]["seconds"] - got["app"]["engine_s"])
            bare_s.append(got["bare"]["seconds"])
            identical = identical and got["app"]["pixels"] == got["bare"]["pixels"]
            log(f"{name}: pair {i + 1}/{pairs}: app {app_s[-1]:.3f} s, bare {bare_s[-1]:.3f} s")
        rss = app.call("rss")
        bare_rss = bare.call("rss")
    ratio = median(app_s) / median(bare_s)
    size = f"{spec['width']}x{spec['height']}"
    case = Case(
        name,
        ratio,
        "ratio",
        f"<= {TARGET_RATIO}",
        median(bare_s),
        ratio <= TARGET_RATIO,
        note=(
            f"{label}, {size}, {spec['steps']} steps, cfg {spec['cfg_scale']}, "
            f"{threads} thread(s) on both sides; "
            f"median of {pairs} interleaved images per side; baseline = bare diffusers s/image"
        ),
        details={
            "baseline_unit": "s/image",
            "app_median_s": median(app_s),
            "bare_median_s": median(bare_s),
            "median_pair_difference_ms": 1000
            * median([a - b for a, b in zip(app_s, bare_s, strict=True)]),
            "app_fixed_ms": 1000 * median(app_fixed_s),
            "app_s": app_s,
            "bare_s": bare_s,
            "pixel_identical": identical,
            "threads": threads,
            "app_peak_rss_mb": rss["peak_mb"],
            "bare_peak_rss_mb": bare_rss["peak_mb"],
        },
    )
    return case, {
        "app_peak_mb": rss["peak_mb"],
        "bare_peak_mb": bare_rss["peak_mb"],
        "source": f"the {name} processes",
    }


def spec_for(model: str, size: int, steps: int) -> dict[str, Any]:
    return {
        "model": model,
        "prompt": PROMPT,
        "negative_prompt": NEGATIVE,
        "steps": steps,
        "cfg_scale": 7.5,
        "width": size,
        "height": size,
    }


def overhead_small(quick: bool) -> tuple[Case, dict[str, Any]]:
    spec = spec_for("demo:sd", 64, 8)
    return compare("overhead_small", "demo:sd", spec, spec, 3 if quick else 80)


def overhead_sd15(quick: bool) -> tuple[Case, dict[str, Any]]:
    from bench.sd15 import sd15_path

    path = str(sd15_path())
    label = "SD 1.5-sized UNet/VAE/CLIP (random weights)"
    # On a CPU a 512x512 step of this model takes many seconds: few steps, few images. The
    # warm-up is at the measured size, so that neither side's first 512x512 image pays for
    # allocating its buffers, and two pairs put each side first once (one pair, app first and
    # warmed at 64x64, gave 1.18).
    spec = spec_for(path, 128 if quick else 512, 1 if quick else 2)
    return compare("overhead_sd15", label, spec, spec, 1 if quick else 2)
