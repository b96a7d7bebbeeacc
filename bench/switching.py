"""Switching: text2img -> img2img -> inpaint on one model, versus loading each pipeline anew;
then a second model while the first stays cached. Times and memory (RSS, psutil).

Runs in its own process (`python -m bench.switching CHILD HOME MODEL1 MODEL2`) so memory
figures are not those of the benchmark runner. The app side is the engine through the
Generator (what a worker does); a task switch costs `load_s` in the run's recorded timings
(cache lookup + building the task's pipeline from the loaded one with `from_pipe`). The bare
side loads `StableDiffusion{,Img2Img,Inpaint}Pipeline.from_pretrained` anew for each task.
The app's warm cycles and the anew loads alternate.
"""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import PROMPT, Case, bench_env, fresh_home, log, median

TASKS = ("text2img", "img2img", "inpaint")
BARE_CLASSES = {
    "text2img": "StableDiffusionPipeline",
    "img2img": "StableDiffusionImg2ImgPipeline",
    "inpaint": "StableDiffusionInpaintPipeline",
}
TARGET_SHARE = 0.1  # a task switch costs at most a tenth of loading the pipeline anew


def switching(quick: bool) -> list[Case]:
    if quick:
        first, second, label = "demo:sd", "demo:sdxl", "demo:sd, then demo:sdxl"
    else:
        from bench.sd15 import sd15_path

        first, second = str(sd15_path()), "demo:sd"
        label = "SD 1.5-sized model, then demo:sd"
    with fresh_home("switch") as home:
        log(f"switching: {label}")
        out = subprocess.run(
            [sys.executable, "-m", "bench.switching", "child", str(home), first, second],
            env=bench_env(),
            stdout=subprocess.PIPE,
            check=True,
            text=True,
        ).stdout
    data: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    switch_s = median(data["app_first_switch_s"])
    anew_s = median(data["anew_load_s"])
    task_case = Case(
        "switch",
        switch_s,
        "s",
        f"<= {TARGET_SHARE} x baseline",
        anew_s,
        switch_s <= TARGET_SHARE * anew_s,
        note=(
            f"{label}; 64x64, 1 step. value: first switch to img2img/inpaint on a loaded model "
            "(median); baseline: loading that pipeline anew (median)"
        ),
        details={"baseline_unit": "s", **data},
    )
    back_s = data["back_to_first_load_s"]
    model_case = Case(
        "switch_second_model",
        back_s,
        "s",
        "<= 0.1 x baseline",
        data["first_model_cold_load_s"],
        back_s <= 0.1 * data["first_model_cold_load_s"],
        note=(
            "back to the first model after using a second one (both cached, LRU of 2); "
            "baseline: the first model's cold load. RSS with both cached in details"
        ),
        details={
            "baseline_unit": "s",
            "second_model_load_s": data["second_model_load_s"],
            "rss_both_cached_mb": data["rss_both_cached_mb"],
        },
    )
    memory_case = Case(
        "switch_memory_mb",
        data["app_three_tasks_extra_mb"],
        "MB",
        None,
        data["anew_extra_mb"],
        None,
        note=(
            "informational: RSS added while the img2img + inpaint pipelines are built on the "
            "loaded model and run once (app; includes their first activations) versus RSS "
            "right after one pipeline is loaded anew (baseline; safetensors are memory-mapped, "
            "so untouched weights do not count yet); both models' RSS in switch details"
        ),
        details={"baseline_unit": "MB"},
    )
    return [task_case, model_case, memory_case]


# ---- the child process ------------------------------------------------------------------
def _rss_mb() -> float:
    import psutil

    return float(psutil.Process().memory_info().rss) / (1024 * 1024)


def _inputs(home: Path) -> tuple[str, str]:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(7)
    init = home / "init.png"
    Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(init)
    mask = np.zeros((64, 64), dtype=np.uint8)
    mask[16:48, 16:48] = 255
    mask_path = home / "mask.png"
    Image.fromarray(mask).save(mask_path)
    return str(init), str(mask_path)


def child(home: Path, first: str, second: str) -> dict[str, Any]:
    import os

    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from core.engine.pipelines import quiet_libraries
    from core.engine.runner import Engine
    from core.generation import Generator
    from core.library import Library
    from core.request import GenerationRequest

    quiet_libraries()
    library = Library.open(home)
    generator = Generator(library, Engine())
    init, mask = _inputs(home)

    def request(task: str, model: str) -> GenerationRequest:
        extra: dict[str, Any] = {}
        if task in ("img2img", "inpaint"):
            extra["init_image"] = init
        if task == "inpaint":
            extra["mask"] = mask
        return GenerationRequest(
            task=task,
            model=model,
            prompt=PROMPT,
            seed=1,
            steps=1,
            cfg_scale=7.5,
            width=64,
            height=64,
            strength=1.0,
            **extra,
        )

    def app_job(task: str, model: str) -> tuple[float, float]:
        started = time.perf_counter()
        outputs = generator.generate(request(task, model))
        wall = time.perf_counter() - started
        return wall, float(_timings(library, outputs)["load_s"])

    def anew(task: str, model: str) -> tuple[float, float]:
        import diffusers

        folder = generator.resolve_model(model).path
        gc.collect()
        before = _rss_mb()
        started = time.perf_counter()
        pipe = getattr(diffusers, BARE_CLASSES[task]).from_pretrained(
            folder,
            local_files_only=True,
            safety_checker=None,
            feature_extractor=None,
            requires_safety_checker=False,
        )
        seconds = time.perf_counter() - started
        extra = _rss_mb() - before
        del pipe
        gc.collect()
        return seconds, extra

    result: dict[str, Any] = {}
    rss0 = _rss_mb()
    _, cold = app_job("text2img", first)
    rss_loaded = _rss_mb()
    result["first_model_cold_load_s"] = cold
    result["rss_first_model_mb"] = rss_loaded - rss0
    switches = [app_job(task, first)[1] for task in TASKS[1:]]
    result["app_first_switch_s"] = switches
    result["app_three_tasks_extra_mb"] = max(0.0, _rss_mb() - rss_loaded)
    warm: list[float] = []
    anew_load: list[float] = []
    anew_mb: list[float] = []
    for _ in range(2):
        for task in TASKS:
            warm.append(app_job(task, first)[1])
            seconds, extra = anew(task, first)
            anew_load.append(seconds)
            anew_mb.append(extra)
    result["app_warm_switch_s"] = warm
    result["anew_load_s"] = anew_load
    result["anew_extra_mb"] = median(anew_mb)
    _, second_load = app_job("text2img", second)
    result["second_model_load_s"] = second_load
    _, back = app_job("text2img", first)
    result["back_to_first_load_s"] = back
    result["rss_both_cached_mb"] = _rss_mb()
    result["cache_loads"] = generator.engine.cache.loads
    library.close()
    return result


def _timings(library: Any, outputs: list[Any]) -> dict[str, Any]:
    run = library.runs.get_run(outputs[0].run_id)
    data: dict[str, Any] = json.loads(run.timings_json if run else "{}")
    return data


if __name__ == "__main__":
    if sys.argv[1:2] == ["child"]:
        home, first, second = sys.argv[2:5]
        print(json.dumps(child(Path(home), first, second)))
