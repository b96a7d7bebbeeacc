"""The one training loop every method runs: noise, denoise, step; checkpoint; resume.

Randomness comes from two generators the run owns (torch for noise and timesteps, numpy for
which images make each batch), seeded from the spec and saved in every checkpoint with torch's,
Python's and numpy's global states, so a resumed run takes exactly the steps an uninterrupted
one would have taken.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.training.checkpoint import (
    capture_rng,
    latest_checkpoint,
    load_checkpoint,
    restore_rng,
    save_checkpoint,
)
from core.training.methods import TrainingMethod, load_trainable_state, trainable_state
from core.training.parts import BaseParts, encode_prompts
from core.training.precision import Precision
from core.training.spec import TrainingSpec

MAX_GRAD_NORM = 1.0
MIN_SNR_GAMMA = 5.0  # min-SNR loss weights, as demo:sd itself was trained


@dataclass(frozen=True)
class TrainingProgress:
    step: int
    total: int
    loss: float
    it_per_s: float
    eta_s: float

    def to_dict(self) -> dict[str, float]:
        return {
            "step": self.step,
            "total": self.total,
            "loss": round(self.loss, 6),
            "it_per_s": round(self.it_per_s, 4),
            "eta_s": round(self.eta_s, 1),
        }

    def line(self) -> str:
        """`step 40/200  loss 0.1234  2.10 it/s  ETA 1:16`, as the CLI prints it."""
        eta = int(self.eta_s)
        return (
            f"step {self.step}/{self.total}  loss {self.loss:.4f}  "
            f"{self.it_per_s:.2f} it/s  ETA {eta // 60}:{eta % 60:02d}"
        )


@dataclass
class TrainingData:
    """Encoded once before the loop: latents, token ids, and prompt embeddings where the text
    encoder is frozen (None where the method trains it)."""

    latents: Any
    ids: Any
    hidden: Any | None
    class_latents: Any | None = None
    class_ids: Any | None = None
    class_hidden: Any | None = None


@dataclass
class LoopResult:
    step: int
    stopped: bool
    resumed_from: int
    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0


def lr_factor(spec: TrainingSpec) -> Callable[[int], float]:
    warmup, total = spec.warmup_steps, spec.steps

    def factor(step: int) -> float:
        if warmup and step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(total - warmup, 1)
        if spec.lr_schedule == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))
        if spec.lr_schedule == "linear":
            return max(0.0, 1.0 - progress)
        return 1.0

    return factor


def run_loop(
    spec: TrainingSpec,
    parts: BaseParts,
    method: TrainingMethod,
    data: TrainingData,
    folder: Path,
    on_progress: Callable[[TrainingProgress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    after_step: Callable[[int], None] | None = None,
    carry: dict[str, Any] | None = None,
) -> LoopResult:
    """Train `spec` from its last checkpoint in `folder` (if any). `after_step(step)` runs after
    each step (samples); `carry` is the caller's own state, saved in every checkpoint and read
    back on resume (updated in place)."""
    import torch

    generator = torch.Generator("cpu").manual_seed(spec.seed)
    data_rng = np.random.default_rng(spec.seed)
    optimizer = torch.optim.AdamW(method.parameters(), lr=float(spec.lr or 0.0), weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor(spec))
    precision = Precision(spec.mixed_precision, str(spec.device or "cpu"))
    if spec.gradient_checkpointing:
        parts.unet.enable_gradient_checkpointing()
    losses: list[float] = []
    step = 0
    last = latest_checkpoint(folder)
    if last is not None:
        saved = load_checkpoint(last)
        load_trainable_state(parts, saved["weights"])
        optimizer.load_state_dict(saved["optimizer"])
        schedule.load_state_dict(saved["schedule"])
        restore_rng(saved["rng"], generator, data_rng)
        precision.load_state_dict(saved.get("scaler", {}))
        losses = [float(x) for x in saved["losses"]]
        step = int(saved["step"])
        if carry is not None:
            carry.update(saved.get("carry") or {})
    resumed_from = step

    def checkpoint() -> None:
        save_checkpoint(
            folder,
            step,
            {
                "weights": trainable_state(parts),
                "optimizer": optimizer.state_dict(),
                "schedule": schedule.state_dict(),
                "rng": capture_rng(generator, data_rng),
                "losses": list(losses),
                "carry": dict(carry or {}),
                "scaler": precision.state_dict(),
            },
        )

    started = time.perf_counter()
    parts.unet.train()
    while step < spec.steps:
        if should_stop is not None and should_stop():
            checkpoint()
            return LoopResult(step, True, resumed_from, losses, time.perf_counter() - started)
        loss = 0.0
        for _ in range(spec.grad_accumulation):
            with precision.autocast():
                value = _loss(spec, parts, method, data, generator, data_rng)
            precision.backward(value / spec.grad_accumulation)
            loss += float(value.detach()) / spec.grad_accumulation
        precision.step(optimizer, method.parameters(), MAX_GRAD_NORM)
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        method.after_step()
        step += 1
        losses.append(loss)
        if after_step is not None:
            after_step(step)
        if spec.checkpoint_every and step % spec.checkpoint_every == 0 and step < spec.steps:
            checkpoint()
        if on_progress is not None:
            elapsed = time.perf_counter() - started
            rate = (step - resumed_from) / elapsed if elapsed > 0 else 0.0
            eta = (spec.steps - step) / rate if rate > 0 else 0.0
            on_progress(TrainingProgress(step, spec.steps, loss, rate, eta))
    parts.unet.eval()
    return LoopResult(step, False, resumed_from, losses, time.perf_counter() - started)


def _loss(
    spec: TrainingSpec,
    parts: BaseParts,
    method: TrainingMethod,
    data: TrainingData,
    generator: Any,
    data_rng: np.random.Generator,
) -> Any:
    import torch

    count = int(data.latents.shape[0])
    picked = _pick(data_rng, count, spec.batch_size)
    latents = data.latents[picked]
    hidden = _hidden(parts, method, data.ids, data.hidden, picked)
    prior = data.class_latents is not None
    if data.class_latents is not None:
        chosen = _pick(data_rng, int(data.class_latents.shape[0]), spec.batch_size)
        latents = torch.cat([latents, data.class_latents[chosen]])
        extra = _hidden(parts, method, data.class_ids, data.class_hidden, chosen)
        hidden = torch.cat([hidden, extra])
    scheduler = parts.noise_scheduler
    # drawn on the CPU whatever the device, so the same seed gives the same noise everywhere
    noise = torch.randn(latents.shape, generator=generator).to(latents.device)
    steps = int(scheduler.config.num_train_timesteps)
    timesteps = torch.randint(0, steps, (latents.shape[0],), generator=generator)
    timesteps = timesteps.to(latents.device)
    noisy = scheduler.add_noise(latents, noise, timesteps)
    if parts.prediction_type == "v_prediction":
        target = scheduler.get_velocity(latents, noise, timesteps)
    else:
        target = noise
    predicted = parts.unet(noisy, timesteps, hidden).sample.float()  # autocast: back to fp32
    errors = ((predicted - target) ** 2).mean(dim=(1, 2, 3)) * _snr_weights(parts, timesteps)
    if not prior:
        return errors.mean()
    half = spec.batch_size
    return errors[:half].mean() + spec.prior_weight * errors[half:].mean()


def _snr_weights(parts: BaseParts, timesteps: Any) -> Any:
    """min(SNR, gamma) / (SNR + 1) for v-prediction, min(SNR, gamma) / SNR for epsilon: the
    loudest (least noisy) steps stop dominating the loss."""
    import torch

    alphas = parts.noise_scheduler.alphas_cumprod.to(timesteps.device)[timesteps]
    snr = alphas / (1 - alphas)
    clipped = torch.clamp(snr, max=MIN_SNR_GAMMA)
    return clipped / (snr + 1) if parts.prediction_type == "v_prediction" else clipped / snr


def _pick(rng: np.random.Generator, count: int, size: int) -> list[int]:
    if size <= count:
        return [int(i) for i in rng.permutation(count)[:size]]
    return [int(i) for i in rng.integers(0, count, size=size)]


def _hidden(
    parts: BaseParts, method: TrainingMethod, ids: Any, hidden: Any | None, picked: list[int]
) -> Any:
    if hidden is not None and not method.trains_text:
        return hidden[picked]
    return encode_prompts(parts.text_encoder, ids[picked])
