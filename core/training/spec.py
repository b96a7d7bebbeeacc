"""What decides a training run's weights, as one frozen value with canonical JSON and a hash.

A `TrainingSpec` is to training what `GenerationRequest` is to generation: the same spec, base
model weights, instance images, torch version and thread count give the same trained weights,
and its hash names the run's working folder, so a killed run with the same spec picks up from
its last checkpoint.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, fields
from typing import Any

from core.errors import BadInput
from core.request import canonical_json
from core.training.precision import MIXED_PRECISION

METHODS = ("lora", "dreambooth", "textual-inversion")
LR_SCHEDULES = ("constant", "cosine", "linear")
# The usual starting points for SD 1.x/2.x; demo:sd learns faster (docs/training.md).
DEFAULT_LR = {"lora": 1e-4, "dreambooth": 5e-6, "textual-inversion": 5e-3}
DEFAULT_TOKEN = "<zxq>"
SPEC_VERSION = 1
# Fields added after version 1's specs were recorded, with their defaults: left out of the
# canonical JSON while at the default, so a spec that does not use them hashes as it always did
# (and names the same run folder); a recorded spec without them loads with the defaults.
LATER_FIELDS: dict[str, Any] = {
    "mixed_precision": "no",
    "gradient_checkpointing": False,
    "sample_every": 0,
}


@dataclass(frozen=True)
class TrainingSpec:
    """Everything that decides a training run's weights.

    `images` is a folder of instance images; `prompt` is the instance prompt (with the
    identifier), used for every image that has no `name.txt` caption beside it. Fields left as
    None get the method's default when the run starts; the resolved spec is what gets recorded.
    """

    method: str
    base: str
    images: str
    prompt: str
    name: str
    steps: int
    seed: int
    class_prompt: str | None = None
    token: str | None = None  # textual inversion: the new token, e.g. "<zxq>"
    initializer: str | None = None  # textual inversion: the word whose embedding it starts from
    rank: int = 4
    alpha: float | None = None  # LoRA alpha; None: the rank (scale 1)
    lr: float | None = None
    lr_schedule: str = "constant"
    warmup_steps: int = 0
    resolution: int | None = None  # None: the base model's trained size
    batch_size: int = 1
    grad_accumulation: int = 1
    train_text_encoder: bool = False
    prior_weight: float = 1.0
    class_images: int = 0  # DreamBooth prior preservation: how many class images (0: none)
    checkpoint_every: int = 0  # 0: only at the end and when stopped
    threads: int | None = None
    device: str | None = None
    mixed_precision: str = "no"  # "no" | "fp16" (CUDA) | "bf16": autocast in the forward pass
    gradient_checkpointing: bool = False  # the UNet recomputes activations: less memory, slower
    sample_every: int = 0  # draw samples every N steps (0: none); does not change the weights

    # fields that do not change the weights: out of the hash (a run with samples resumes a
    # checkpoint made without)
    _NOT_WEIGHTS = ("sample_every",)

    # ---- serialisation -------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        values = dataclasses.asdict(self)
        for name, default in LATER_FIELDS.items():
            if values[name] == default:
                del values[name]
        return {"version": SPEC_VERSION, **values}

    def canonical_json(self) -> str:
        return canonical_json(self.to_dict())

    def hash(self) -> str:
        """Of what decides the weights (not of sampling), so it names the run's checkpoints."""
        data = {k: v for k, v in self.to_dict().items() if k not in self._NOT_WEIGHTS}
        return hashlib.sha256(canonical_json(data).encode("utf-8")).hexdigest()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainingSpec:
        if not isinstance(data, dict):
            raise BadInput("spec", f"expected a JSON object, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k != "version"}
        unknown = sorted(set(values) - known)
        if unknown:
            raise BadInput(
                unknown[0], f"unknown training field (known: {', '.join(sorted(known))})"
            )
        try:
            return cls(**values)
        except TypeError as exc:
            raise BadInput("spec", str(exc)) from exc

    # ---- checks --------------------------------------------------------------------------
    def validate(self) -> None:
        """Raise BadInput naming the field for anything that cannot run."""
        if self.method not in METHODS:
            raise BadInput("method", f"{self.method!r}: expected one of {', '.join(METHODS)}")
        for name in ("base", "images", "prompt", "name"):
            if not str(getattr(self, name)).strip():
                raise BadInput(name, "is required")
        _positive("steps", self.steps)
        _positive("rank", self.rank)
        _positive("batch_size", self.batch_size)
        _positive("grad_accumulation", self.grad_accumulation)
        if self.sample_every < 0:
            raise BadInput("sample_every", f"{self.sample_every}: expected 0 or more")
        if self.checkpoint_every < 0:
            raise BadInput("checkpoint_every", f"{self.checkpoint_every}: expected 0 or more")
        if self.lr is not None and not 0 < self.lr < 1:
            raise BadInput("lr", f"{self.lr}: expected a learning rate between 0 and 1")
        if self.mixed_precision not in MIXED_PRECISION:
            raise BadInput(
                "mixed_precision",
                f"{self.mixed_precision!r}: expected one of {', '.join(MIXED_PRECISION)}",
            )
        if self.lr_schedule not in LR_SCHEDULES:
            raise BadInput("lr_schedule", f"expected one of {', '.join(LR_SCHEDULES)}")
        if self.resolution is not None and (self.resolution < 8 or self.resolution % 8):
            raise BadInput("resolution", f"{self.resolution}: expected a multiple of 8")
        if self.threads is not None and self.threads < 1:
            raise BadInput("threads", f"{self.threads}: expected 1 or more")
        if self.class_images < 0:
            raise BadInput("class_images", f"{self.class_images}: expected 0 or more")
        if self.class_images and self.method != "dreambooth":
            raise BadInput("class_images", "prior preservation is for DreamBooth only")
        if self.class_images and not (self.class_prompt or "").strip():
            raise BadInput("class_prompt", "prior preservation needs a class prompt")
        if self.method == "textual-inversion":
            token = self.token or DEFAULT_TOKEN
            if not token.strip() or any(c.isspace() for c in token):
                raise BadInput("token", f"{token!r}: expected one word such as <zxq>")
            if token not in self.prompt:
                raise BadInput("prompt", f"{self.prompt!r} does not contain the token {token!r}")

    def resolved(self, resolution: int, threads: int) -> TrainingSpec:
        """The spec with the method's defaults filled in (what is recorded and hashed)."""
        return dataclasses.replace(
            self,
            lr=self.lr if self.lr is not None else DEFAULT_LR[self.method],
            alpha=self.alpha if self.alpha is not None else float(self.rank),
            resolution=self.resolution or resolution,
            token=(self.token or DEFAULT_TOKEN) if self.method == "textual-inversion" else None,
            threads=self.threads or threads,
        )


def _positive(field: str, value: int) -> None:
    if not isinstance(value, int) or value < 1:
        raise BadInput(field, f"{value!r}: expected a whole number of 1 or more")
