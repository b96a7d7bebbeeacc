"""Run one resolved request through diffusers: images, per-step progress, cancel, timings."""

from __future__ import annotations

import inspect
import math
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.engine import adapters
from core.engine.device import cpu_generators, thread_count
from core.engine.pipelines import LoadedModel, PipelineCache, check_task
from core.engine.preview import latents_preview
from core.engine.prompts import PromptEmbeddings
from core.errors import BadInput, Cancelled, ModelError
from core.models.resolve import ResolvedModel
from core.request import GenerationRequest


@dataclass(frozen=True)
class StepProgress:
    """One denoising step done. `preview` is a small PIL image (made in the worker thread)."""

    call: int
    calls: int
    step: int
    steps: int
    phase: str
    preview: Any | None = None


ProgressCallback = Callable[[StepProgress], None]
PREVIEW_SPACING = 4  # decodes' time between two step previews


@dataclass(frozen=True)
class EngineInputs:
    """Input images, already read and checked (PIL images)."""

    init_image: Any | None = None
    mask: Any | None = None
    depth_map: Any | None = None


@dataclass(frozen=True)
class GeneratedImage:
    image: Any
    seed: int
    index: int


@dataclass
class EngineResult:
    images: list[GeneratedImage]
    pipeline: str
    scheduler: str
    scheduler_config: dict[str, Any]
    refiner_pipeline: str | None = None
    timings: dict[str, float] = field(default_factory=dict)


class Engine:
    """Owns the pipeline cache; runs one request at a time (a worker thread per device)."""

    def __init__(self, cache: PipelineCache | None = None, *, prompt_cache: bool = True) -> None:
        self.cache = cache or PipelineCache()
        # Reuse a prompt's text embeddings between runs (core.engine.prompts); off: every run
        # encodes its prompt, as a bare diffusers call does (the tests compare the two).
        self.prompt_cache = prompt_cache
        self._vaes: dict[str, Any] = {}
        self._lock = threading.Lock()

    def run(
        self,
        request: GenerationRequest,
        model: ResolvedModel,
        inputs: EngineInputs,
        *,
        refiner: ResolvedModel | None = None,
        on_step: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
        previews: bool = True,
    ) -> EngineResult:
        """`request` must be resolved: seed, steps, sizes, device, dtype, threads all set."""
        assert request.seed is not None and request.threads is not None
        assert request.device is not None and request.dtype is not None
        with self._lock:
            check_task(model, request.task)
            started = time.perf_counter()
            loaded = self.cache.get(model, request.device, request.dtype, request.cpu_offload)
            pipe = loaded.pipeline_for(request.task)
            refine = self._refiner(request, model, refiner)
            vae = self._vae(request)
            timings = {"load_s": time.perf_counter() - started}
            images: list[GeneratedImage] = []
            scheduler: Any = None
            with thread_count(request.threads), adapters.applied(pipe, request, vae):
                for call in range(request.batch_count):
                    t0 = time.perf_counter()
                    seeds = [
                        request.seed + call * request.batch_size + j
                        for j in range(request.batch_size)
                    ]
                    scheduler = _fresh_scheduler(request, loaded)
                    pipe.scheduler = scheduler
                    progress = _Progress(call, request.batch_count, on_step, cancel, previews)
                    out = self._call(pipe, loaded, request, inputs, seeds, progress, refine)
                    for j, image in enumerate(out):
                        images.append(
                            GeneratedImage(image, seeds[j], call * request.batch_size + j)
                        )
                    timings[f"call{call}_s"] = time.perf_counter() - t0
            timings["total_s"] = time.perf_counter() - started
            return EngineResult(
                images=images,
                pipeline=type(pipe).__name__,
                scheduler=type(scheduler).__name__,
                scheduler_config=_json_safe(dict(scheduler.config)),
                refiner_pipeline=type(refine[0]).__name__ if refine is not None else None,
                timings=timings,
            )

    # ---- pieces ------------------------------------------------------------------------
    def _refiner(
        self, request: GenerationRequest, model: ResolvedModel, refiner: ResolvedModel | None
    ) -> tuple[Any, PromptEmbeddings] | None:
        """The refiner's img2img pipeline and its loaded model's kept prompts."""
        if refiner is None:
            return None
        if model.kind != "sdxl":
            raise BadInput("refiner", f"a refiner follows an SDXL base model, not {model.kind}")
        if refiner.kind not in ("sdxl-refiner", "sdxl"):
            raise BadInput(
                "refiner", f"{refiner.name} is a {refiner.kind} model, not an SDXL refiner"
            )
        loaded = self.cache.get(refiner, request.device or "cpu", request.dtype or "float32")
        pipe = loaded.pipeline_for("img2img")
        pipe.scheduler = _fresh_scheduler(request, loaded)
        return pipe, loaded.prompts

    def _vae(self, request: GenerationRequest) -> Any | None:
        if not request.vae:
            return None
        if request.vae not in self._vaes:
            from core.engine.device import torch_dtype
            from core.models.loading import load_vae

            vae = load_vae(Path(request.vae))
            self._vaes[request.vae] = vae.to(
                request.device, torch_dtype(request.dtype or "float32")
            )
        return self._vaes[request.vae]

    def _call(
        self,
        pipe: Any,
        loaded: LoadedModel,
        request: GenerationRequest,
        inputs: EngineInputs,
        seeds: list[int],
        progress: _Progress,
        refine: tuple[Any, PromptEmbeddings] | None,
    ) -> list[Any]:
        kwargs = _task_kwargs(request, inputs)
        kwargs.update(
            prompt=request.prompt,
            negative_prompt=request.negative_prompt or None,
            num_inference_steps=request.steps,
            guidance_scale=request.cfg_scale,
            num_images_per_prompt=request.batch_size,
            generator=cpu_generators(seeds),
        )
        accepted = inspect.signature(pipe.__call__).parameters
        if request.clip_skip is not None:
            if "clip_skip" not in accepted:
                raise BadInput("clip_skip", f"{type(pipe).__name__} does not support clip skip")
            _check_clip_skip(pipe, request.clip_skip)
            kwargs["clip_skip"] = request.clip_skip
        embeds = loaded.prompts.arguments(
            pipe, request, accepted, keep=self.prompt_cache, clip_skip=request.clip_skip
        )
        _use_embeddings(kwargs, embeds)
        if refine is not None:
            kwargs.update(output_type="latent", denoising_end=request.high_noise_frac)
        _attach_progress(pipe, kwargs, accepted, progress, "base")
        try:
            with warnings.catch_warnings():
                # the depth pipeline asks for CPU autocast in float32, which torch declines, noisily
                warnings.filterwarnings("ignore", message=".*autocast.*", category=UserWarning)
                out = pipe(**kwargs)
        except (Cancelled, BadInput, ModelError):
            raise
        except (ValueError, TypeError, RuntimeError, IndexError) as exc:
            raise ModelError(f"{type(pipe).__name__} failed: {exc}") from exc
        if refine is None:
            return list(out.images)
        refiner, refiner_prompts = refine
        refine_kwargs: dict[str, Any] = {
            "prompt": request.prompt,
            "negative_prompt": request.negative_prompt or None,
            "num_inference_steps": request.steps,
            "guidance_scale": request.cfg_scale,
            "image": out.images,
            "denoising_start": request.high_noise_frac,
            "generator": kwargs["generator"],
        }
        refine_accepted = inspect.signature(refiner.__call__).parameters
        kept = refiner_prompts.arguments(refiner, request, refine_accepted, keep=self.prompt_cache)
        _use_embeddings(refine_kwargs, kept)
        _attach_progress(refiner, refine_kwargs, refine_accepted, progress, "refiner")
        return list(refiner(**refine_kwargs).images)


def _check_clip_skip(pipe: Any, clip_skip: int) -> None:
    """diffusers indexes the text encoder's hidden states unchecked: a skip past its first layer
    was an IndexError from inside the pipeline."""
    encoders = [getattr(pipe, name, None) for name in ("text_encoder", "text_encoder_2")]
    layers = [e.config.num_hidden_layers for e in encoders if e is not None]
    sdxl = hasattr(pipe, "text_encoder_2")  # SDXL starts from the next-to-last layer
    most = min(layers) - (1 if sdxl else 0) if layers else 0
    if clip_skip > most:
        raise BadInput(
            "clip_skip", f"{clip_skip} skips past the text encoder's first layer (at most {most})"
        )


def _use_embeddings(kwargs: dict[str, Any], embeds: dict[str, Any] | None) -> None:
    """A call's kept or pre-encoded embeddings in place of its prompt words."""
    if embeds is not None:
        for name in ("prompt", "negative_prompt", "clip_skip"):
            kwargs.pop(name, None)
        kwargs.update(embeds)


class _Progress:
    def __init__(
        self,
        call: int,
        calls: int,
        on_step: ProgressCallback | None,
        cancel: threading.Event | None,
        previews: bool,
    ) -> None:
        self.call, self.calls, self.on_step, self.cancel = call, calls, on_step, cancel
        self.previews = previews and on_step is not None
        self._preview_at = -math.inf  # when the last preview was made
        self._decode_s = 0.0  # and how long its decode took

    def step(self, phase: str, step: int, steps: int, latents: Any, vae: Any = None) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise Cancelled(f"cancelled at step {step} of {steps}")
        if self.on_step is not None:
            preview = None
            if self.previews and latents is not None and vae is not None and self._due(step, steps):
                started = time.perf_counter()
                preview = latents_preview(latents, vae)
                self._preview_at = time.perf_counter()
                self._decode_s = self._preview_at - started
            self.on_step(StepProgress(self.call, self.calls, step, steps, phase, preview))

    def _due(self, step: int, steps: int) -> bool:
        """A preview at most every PREVIEW_SPACING decodes' time (previews cost at most a fifth
        of the run: an SD-sized VAE decodes a 128 px preview in about 3 s on two busy CPU
        cores), and always at a phase's last step."""
        waited = time.perf_counter() - self._preview_at
        return step == steps or waited >= PREVIEW_SPACING * self._decode_s


def _attach_progress(
    pipe: Any, kwargs: dict[str, Any], accepted: Any, progress: _Progress, phase: str
) -> None:
    if "callback_on_step_end" in accepted:

        def on_step_end(p: Any, i: int, t: Any, cb: dict[str, Any]) -> dict[str, Any]:
            total = int(getattr(p, "_num_timesteps", 0) or len(p.scheduler.timesteps))
            progress.step(phase, i + 1, total, cb.get("latents"), getattr(p, "vae", None))
            return cb

        kwargs["callback_on_step_end"] = on_step_end
        kwargs["callback_on_step_end_tensor_inputs"] = ["latents"]
    else:  # the x4 upscaler still takes the older callback

        def on_step(i: int, t: Any, latents: Any) -> None:
            progress.step(phase, i + 1, len(pipe.scheduler.timesteps), latents, pipe.vae)

        kwargs["callback"] = on_step
        kwargs["callback_steps"] = 1


def _task_kwargs(request: GenerationRequest, inputs: EngineInputs) -> dict[str, Any]:
    task = request.task
    if task in ("img2img", "inpaint", "depth") and int((request.steps or 0) * request.strength) < 1:
        # diffusers runs steps x strength steps: zero was a reshape error from inside the UNet
        least = math.ceil(1 / request.strength)
        raise BadInput(
            "steps",
            f"{request.steps} step(s) at strength {request.strength} leave no step to run; "
            f"use at least {least} steps or a higher strength",
        )
    if task == "text2img":
        return {"width": request.width, "height": request.height}
    if task == "img2img":
        return {"image": inputs.init_image, "strength": request.strength}
    if task == "inpaint":
        return {
            "image": inputs.init_image,
            "mask_image": inputs.mask,
            "strength": request.strength,
            "width": request.width,
            "height": request.height,
        }
    if task == "depth":
        kwargs: dict[str, Any] = {"image": inputs.init_image, "strength": request.strength}
        if inputs.depth_map is not None:
            kwargs["depth_map"] = _depth_tensor(inputs.depth_map)
        return kwargs
    if task == "upscale":
        return {"image": inputs.init_image, "noise_level": request.noise_level}
    raise BadInput("task", f"unknown task {task!r}")


def _depth_tensor(image: Any) -> Any:
    import numpy as np
    import torch

    array = np.asarray(image.convert("L"), dtype=np.float32) / 255.0
    return torch.from_numpy(array)[None]


def _fresh_scheduler(request: GenerationRequest, loaded: LoadedModel) -> Any:
    """A new scheduler object per call: schedulers keep state, and from_pipe shares them."""
    return loaded.fresh_scheduler(request.scheduler or "default")


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items() if not str(k).startswith("_")}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON has no inf/nan (DPM++ keeps lambda_min_clipped = -inf)
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)
