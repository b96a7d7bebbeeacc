"""Sample images during a training run: every `sample_every` steps, the instance prompt at fixed
seeds, drawn with the weights as they are at that step, kept in the library's history.

Samples show a run learning; they are not reproducible outputs (the weights they were drawn with
exist only at that step), so their record says so: a `training-sample` pseudo-request (like a
grid's) naming the run's spec hash, the step, the prompt and the seed. A queued run's samples
belong to its job (`job_id`) without ending it; the finished run's record lists their ids.

Drawing a sample must not change the run: the global random states are put back afterwards and
the sampling pipeline has a generator of its own, so a run with samples ends with the same
weights as one without (tests/core/training/test_training_queue.py checks the fingerprint).
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from core.library import Library
    from core.models.resolve import ResolvedModel
    from core.training.parts import BaseParts
    from core.training.spec import TrainingSpec

SAMPLE_TASK = "training-sample"
SAMPLE_CHUNK = "atelier-training-sample"
SAMPLE_SEEDS = 2  # images per sampling point: seeds spec.seed, spec.seed + 1


@dataclass(frozen=True)
class Sample:
    step: int
    output_id: int
    path: str
    seed: int


class Sampler:
    """Draws and records one run's samples."""

    def __init__(
        self,
        library: Library,
        spec: TrainingSpec,
        model: ResolvedModel,
        parts: BaseParts,
        job_id: int | None,
        project: str = "default",
    ) -> None:
        self.library, self.spec, self.model, self.parts = library, spec, model, parts
        self.job_id, self.project = job_id, project
        self.steps = int(model.defaults.get("steps") or 20)
        self.cfg_scale = float(model.defaults.get("cfg_scale") or 7.5)
        self._pipe: Any = None

    def due(self, step: int) -> bool:
        every = self.spec.sample_every
        return bool(every) and (step % every == 0 or step == self.spec.steps)

    def draw(self, step: int) -> list[Sample]:
        """The samples at `step`, written to the store and recorded in history."""
        images = self._images()
        return [self._record(step, seed, image) for seed, image in images]

    # ---- pieces ----------------------------------------------------------------------------
    def _images(self) -> list[tuple[int, Any]]:
        import torch

        pipe = self._pipeline()
        unet, text = self.parts.unet, self.parts.text_encoder
        modes = (unet.training, text.training)
        seeds = [self.spec.seed + i for i in range(SAMPLE_SEEDS)]
        size = int(self.spec.resolution or 512)
        made = []
        with _random_states_kept(), torch.no_grad():
            unet.eval()
            text.eval()
            try:
                for seed in seeds:
                    out = pipe(
                        self.spec.prompt,
                        num_inference_steps=self.steps,
                        guidance_scale=self.cfg_scale,
                        width=size,
                        height=size,
                        generator=torch.Generator("cpu").manual_seed(seed),
                    )
                    made.append((seed, out.images[0]))
            finally:
                unet.train(modes[0])
                text.train(modes[1])
        return made

    def _pipeline(self) -> Any:
        if self._pipe is None:
            from diffusers import StableDiffusionPipeline

            from core.engine.schedulers import make_scheduler

            name = self.model.defaults.get("scheduler")
            config = self.parts.noise_scheduler.config
            scheduler = make_scheduler(str(name), config) if name else None
            if scheduler is None:
                from diffusers import EulerDiscreteScheduler

                scheduler = EulerDiscreteScheduler.from_config(config)
            self._pipe = StableDiffusionPipeline(
                vae=self.parts.vae,
                text_encoder=self.parts.text_encoder,
                tokenizer=self.parts.tokenizer,
                unet=self.parts.unet,
                scheduler=scheduler,
                safety_checker=None,
                feature_extractor=None,
                requires_safety_checker=False,
            )
            self._pipe.set_progress_bar_config(disable=True)
        return self._pipe

    def _record(self, step: int, seed: int, image: Any) -> Sample:
        from core.formats.png import png_bytes
        from core.library.entities import NewAsset, NewOutput
        from core.records import pixel_sha256

        spec = self.spec
        request = {
            "task": SAMPLE_TASK,
            "model": spec.base,
            "prompt": spec.prompt,
            "seed": seed,
            "steps": self.steps,
            "width": image.width,
            "height": image.height,
        }
        sample = {
            "variant": spec.name,
            "method": spec.method,
            "spec_hash": spec.hash(),
            "step": step,
            "of_steps": spec.steps,
            "job_id": self.job_id,
            "base_fingerprint": self.model.fingerprint,
            "note": "drawn with the weights at this step; not reproducible on its own",
        }
        record_json = json.dumps({"request": request, "training_sample": sample}, sort_keys=True)
        data = png_bytes(image, {SAMPLE_CHUNK: record_json})
        stored = self.library.store.put_bytes(data, "png")
        relpath = str(stored.path.relative_to(self.library.store.root))
        output = NewOutput(
            asset=NewAsset(stored.sha256, relpath, stored.size, "png", "output", *image.size),
            path=str(stored.path),
            image_index=0,
            seed=seed,
            pixel_sha256=pixel_sha256(image),
            record_json=record_json,
        )
        request_json = json.dumps(request, sort_keys=True)
        project = self.library.projects.get_or_create(self.project)
        _, [output_id] = self.library.runs.record_run(
            project.id,
            self.job_id,
            request_json,
            hashlib.sha256(request_json.encode()).hexdigest(),
            "{}",
            "{}",
            [output],
            finishes_job=False,
        )
        return Sample(step, output_id, str(stored.path), seed)


@contextmanager
def _random_states_kept() -> Iterator[None]:
    """Put torch's (and CUDA's), numpy's and Python's global random states back afterwards."""
    import torch

    saved = (torch.get_rng_state(), np.random.get_state(), random.getstate())
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
    try:
        yield
    finally:
        torch.set_rng_state(saved[0])
        np.random.set_state(saved[1])
        random.setstate(saved[2])
        if cuda is not None:
            torch.cuda.set_rng_state_all(cuda)
