"""The pipeline cache: each model is loaded once; its tasks share the loaded components."""

from __future__ import annotations

import gc
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from core.engine.device import torch_dtype
from core.engine.prompts import PromptEmbeddings
from core.errors import ModelError
from core.models.resolve import ResolvedModel

# kind -> task -> diffusers pipeline class
TASK_PIPELINES: dict[str, dict[str, str]] = {
    "sd1": {
        "text2img": "StableDiffusionPipeline",
        "img2img": "StableDiffusionImg2ImgPipeline",
        "inpaint": "StableDiffusionInpaintPipeline",
    },
    "inpaint": {"inpaint": "StableDiffusionInpaintPipeline"},
    "depth": {"depth": "StableDiffusionDepth2ImgPipeline"},
    "upscale-x4": {"upscale": "StableDiffusionUpscalePipeline"},
    "sdxl": {
        "text2img": "StableDiffusionXLPipeline",
        "img2img": "StableDiffusionXLImg2ImgPipeline",
        "inpaint": "StableDiffusionXLInpaintPipeline",
    },
    "sdxl-refiner": {"img2img": "StableDiffusionXLImg2ImgPipeline"},
}
TASK_PIPELINES["sd2"] = TASK_PIPELINES["sd1"]


def tasks_for_kind(kind: str) -> tuple[str, ...]:
    return tuple(TASK_PIPELINES.get(kind, {}))


def check_task(model: ResolvedModel, task: str) -> None:
    tasks = tasks_for_kind(model.kind)
    if task not in tasks:
        raise ModelError(
            f"{model.name}: a {model.kind} model cannot do {task}; it can do {', '.join(tasks)}"
        )


@dataclass
class LoadedModel:
    """One model in memory: its base pipeline, task pipelines sharing it, its own scheduler."""

    model: ResolvedModel
    device: str
    dtype: str
    base: Any
    base_scheduler_config: Any
    base_scheduler_class: Any
    pipelines: dict[str, Any] = field(default_factory=dict)
    # One unused scheduler per name: a run gets a deep copy (about 0.25 ms) instead of a new
    # one from the config (about 2.3 ms, mostly config checks).
    scheduler_prototypes: dict[str, Any] = field(default_factory=dict)
    prompts: PromptEmbeddings = field(init=False)  # encoded prompts, reused by later runs

    def __post_init__(self) -> None:
        self.prompts = PromptEmbeddings(self.model.kind)

    def fresh_scheduler(self, name: str) -> Any:
        """A new scheduler object `name` ("default": the model's own) for one run."""
        import copy

        if name not in self.scheduler_prototypes:
            if name == "default":
                made = self.base_scheduler_class.from_config(self.base_scheduler_config)
            else:
                from core.engine.schedulers import make_scheduler

                made = make_scheduler(name, self.base_scheduler_config)
            self.scheduler_prototypes[name] = made
        return copy.deepcopy(self.scheduler_prototypes[name])

    def pipeline_for(self, task: str) -> Any:
        import diffusers

        check_task(self.model, task)
        if task not in self.pipelines:
            cls_name = TASK_PIPELINES[self.model.kind][task]
            if type(self.base).__name__ == cls_name:
                self.pipelines[task] = self.base
            else:  # shares every module with the base: no extra memory
                self.pipelines[task] = getattr(diffusers, cls_name).from_pipe(self.base)
                self.pipelines[task].set_progress_bar_config(disable=True)
        return self.pipelines[task]


class PipelineCache:
    """Keeps up to `capacity` models loaded, least recently used first out."""

    def __init__(self, capacity: int = 2) -> None:
        self.capacity = capacity
        self._models: OrderedDict[tuple[str, str, str, bool], LoadedModel] = OrderedDict()
        self._lock = threading.Lock()
        self.loads = 0

    def get(
        self, model: ResolvedModel, device: str, dtype: str, cpu_offload: bool = False
    ) -> LoadedModel:
        key = (str(model.path) + "#" + model.fingerprint, device, dtype, cpu_offload)
        with self._lock:
            if key in self._models:
                self._models.move_to_end(key)
                return self._models[key]
            while len(self._models) >= self.capacity:
                self._models.popitem(last=False)
                _free_memory()
            loaded = self._load(model, device, dtype, cpu_offload)
            self._models[key] = loaded
            self.loads += 1
            return loaded

    def clear(self) -> None:
        with self._lock:
            self._models.clear()
            _free_memory()

    def __len__(self) -> int:
        return len(self._models)

    @staticmethod
    def _load(model: ResolvedModel, device: str, dtype: str, cpu_offload: bool) -> LoadedModel:
        from core.models.loading import load_pipeline

        quiet_libraries()
        pipe = load_pipeline(
            model.path,
            model.kind,
            source_type=model.source.type,
            config=model.config_path,
            torch_dtype=torch_dtype(dtype),
        )
        pipe.set_progress_bar_config(disable=True)
        if cpu_offload:
            if not device.startswith("cuda"):
                raise ModelError(f"{model.name}: CPU offload needs a CUDA device, not {device}")
            pipe.enable_model_cpu_offload()
        else:
            pipe.to(device)
        return LoadedModel(model, device, dtype, pipe, pipe.scheduler.config, type(pipe.scheduler))


def quiet_libraries() -> None:
    """Our own progress replaces the libraries' loading bars and chatter."""
    import diffusers
    import transformers

    diffusers.utils.logging.set_verbosity_error()
    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


def _free_memory() -> None:
    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
