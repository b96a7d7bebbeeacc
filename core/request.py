"""The one request type: every generation, for every task, as one value.

The engine, the library, the PNG metadata, the CLI and the GUI all speak `GenerationRequest`.
It serialises to canonical JSON (every field, stable key order) whose sha256 is its hash.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import secrets
from dataclasses import dataclass, fields
from typing import Any

from core.choices import DEVICES as DEVICES
from core.choices import DTYPES as DTYPES
from core.choices import TASKS as TASKS
from core.errors import BadInput

# Tasks that read an init image; which extra inputs each task takes.
TASKS_WITH_INIT = ("img2img", "inpaint", "upscale", "depth")
# Schedulers index a 1000-step training schedule; some run past its end near 1000 steps.
MAX_STEPS = 500
SEED_RANGE = 2**32  # a seed Atelier draws is below this (a given one may be up to 2**63 - 1)


@dataclass(frozen=True)
class LoraRef:
    path: str
    weight: float = 1.0


@dataclass(frozen=True)
class EmbeddingRef:
    """A textual inversion: the file and the token it is bound to (None: the file's own)."""

    path: str
    token: str | None = None


@dataclass(frozen=True)
class GenerationRequest:
    """Everything that decides the pixels of a generation.

    Fields left as None are resolved to concrete values (model defaults, a random seed, the
    device) before a run; a resolved request is what gets recorded and hashed. Input images are
    given as file paths, `output:ID` (an earlier output) or `sha256:HEX` (an asset in the store).
    """

    task: str
    model: str
    prompt: str = ""
    negative_prompt: str = ""
    seed: int | None = None
    steps: int | None = None
    cfg_scale: float | None = None
    width: int | None = None
    height: int | None = None
    scheduler: str | None = None
    init_image: str | None = None
    mask: str | None = None
    mask_blur: int = 0
    depth_map: str | None = None
    strength: float = 0.75
    noise_level: int = 20
    refiner: str | None = None
    high_noise_frac: float = 0.8
    loras: tuple[LoraRef, ...] = ()
    embeddings: tuple[EmbeddingRef, ...] = ()
    vae: str | None = None
    clip_skip: int | None = None
    batch_count: int = 1
    batch_size: int = 1
    device: str | None = None
    dtype: str | None = None
    threads: int | None = None
    attention_slicing: bool = False
    vae_tiling: bool = False
    cpu_offload: bool = False

    # ---- serialisation -------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        # what `dataclasses.asdict` gives (every field but the two below is a plain immutable
        # value), without its deep copy: 0.04 ms a call here, three for every image recorded
        data = {name: getattr(self, name) for name in _FIELD_NAMES}
        data["loras"] = [dataclasses.asdict(lr) for lr in self.loras]
        data["embeddings"] = [dataclasses.asdict(e) for e in self.embeddings]
        return data

    def canonical_json(self) -> str:
        return self._canonical

    def hash(self) -> str:
        return self._hash

    # Every field is immutable (tuples of frozen refs), so the text and the hash are made once:
    # a job's way through the worker reads them several times.
    @functools.cached_property
    def _canonical(self) -> str:
        return canonical_json(self.to_dict())

    @functools.cached_property
    def _hash(self) -> str:
        return hashlib.sha256(self._canonical.encode("utf-8")).hexdigest()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GenerationRequest:
        if not isinstance(data, dict):
            raise BadInput("request", f"expected a JSON object, got {type(data).__name__}")
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise BadInput(unknown[0], f"unknown request field (known: {', '.join(known)})")
        for required in ("task", "model"):
            if not data.get(required):
                raise BadInput(required, "is required")
        kwargs: dict[str, Any] = {}
        for name, value in data.items():
            if name == "loras":
                kwargs[name] = tuple(_lora(v) for v in value or ())
            elif name == "embeddings":
                kwargs[name] = tuple(_embedding(v) for v in value or ())
            else:
                kwargs[name] = _coerce(name, known[name].type, value)
        return cls(**kwargs)

    @classmethod
    def from_json(cls, text: str) -> GenerationRequest:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise BadInput("request", f"not valid JSON ({exc})") from exc
        return cls.from_dict(data)

    def replace(self, **changes: Any) -> GenerationRequest:
        return dataclasses.replace(self, **changes)

    # ---- validation ----------------------------------------------------------------------
    def validate(self) -> None:
        """Raise BadInput naming the first field that is not what is expected."""
        if self.task not in TASKS:
            raise BadInput(
                "task", f"unknown task {self.task!r}; expected one of {', '.join(TASKS)}"
            )
        if not self.model:
            raise BadInput("model", "is required")
        for name in ("width", "height"):
            value = getattr(self, name)
            if value is not None and (value <= 0 or value % 8):
                raise BadInput(name, f"{value} is not a positive multiple of 8")
        if self.steps is not None and not 1 <= self.steps <= MAX_STEPS:
            raise BadInput("steps", f"{self.steps} is outside 1..{MAX_STEPS}")
        if self.cfg_scale is not None and not 0 <= self.cfg_scale <= 100:
            raise BadInput("cfg_scale", f"{self.cfg_scale} is outside 0..100")
        if not 0 < self.strength <= 1:
            raise BadInput("strength", f"{self.strength} is outside (0, 1]")
        if not 0 < self.high_noise_frac < 1:
            raise BadInput("high_noise_frac", f"{self.high_noise_frac} is outside (0, 1)")
        if not 0 <= self.noise_level <= 350:
            raise BadInput("noise_level", f"{self.noise_level} is outside 0..350")
        if self.mask_blur < 0:
            raise BadInput("mask_blur", f"{self.mask_blur} is negative")
        if self.seed is not None and not 0 <= self.seed < 2**63:
            raise BadInput("seed", f"{self.seed} is outside 0..2^63-1")
        if self.batch_count < 1 or self.batch_size < 1:
            raise BadInput("batch_count", "batch count and batch size must be at least 1")
        if self.threads is not None and self.threads < 1:
            raise BadInput("threads", f"{self.threads} is not a positive thread count")
        if self.dtype is not None and self.dtype not in DTYPES:
            raise BadInput("dtype", f"unknown dtype {self.dtype!r}; expected {', '.join(DTYPES)}")
        if self.device is not None and self.device.split(":")[0] not in DEVICES:
            raise BadInput(
                "device", f"unknown device {self.device!r}; expected {', '.join(DEVICES)}"
            )
        if self.clip_skip is not None and self.clip_skip < 1:
            raise BadInput("clip_skip", f"{self.clip_skip} must be 1 or more")
        if self.task in TASKS_WITH_INIT and not self.init_image:
            raise BadInput("init_image", f"task {self.task} needs an init image")
        if self.task == "inpaint" and not self.mask:
            raise BadInput("mask", "task inpaint needs a mask")
        if self.mask and self.task != "inpaint":
            raise BadInput("mask", f"a mask is only used by inpaint, not {self.task}")
        if self.depth_map and self.task != "depth":
            raise BadInput("depth_map", f"a depth map is only used by depth, not {self.task}")
        if self.refiner and self.task not in ("text2img", "img2img"):
            raise BadInput(
                "refiner", f"a refiner hands off from text2img or img2img, not {self.task}"
            )
        for lora in self.loras:
            if lora.weight != lora.weight or abs(lora.weight) > 10:
                raise BadInput("loras", f"weight {lora.weight} of {lora.path} is outside -10..10")


_FIELD_NAMES = tuple(f.name for f in fields(GenerationRequest))


def draw_seed() -> int:
    """A fresh random seed: the one rule every part of Atelier uses for an unset seed."""
    return secrets.randbelow(SEED_RANGE)


def with_seed(request: GenerationRequest) -> GenerationRequest:
    """`request` with its seed fixed: its own, else a fresh one (`draw_seed`)."""
    return request if request.seed is not None else request.replace(seed=draw_seed())


def canonical_json(data: Any) -> str:
    """Stable JSON: sorted keys, no spaces, UTF-8 kept."""
    return json.dumps(
        data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def parse_lora(text: str) -> LoraRef:
    """`PATH[:WEIGHT]` as given on the command line."""
    path, sep, weight = text.rpartition(":")
    if sep and path and _is_float(weight):
        return LoraRef(path=path, weight=float(weight))
    return LoraRef(path=text, weight=1.0)


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _lora(value: Any) -> LoraRef:
    if isinstance(value, str):
        return parse_lora(value)
    if isinstance(value, dict) and "path" in value:
        return LoraRef(path=str(value["path"]), weight=float(value.get("weight", 1.0)))
    raise BadInput("loras", f"expected {{'path', 'weight'}} or 'PATH[:WEIGHT]', got {value!r}")


def _embedding(value: Any) -> EmbeddingRef:
    if isinstance(value, str):
        return EmbeddingRef(path=value)
    if isinstance(value, dict) and "path" in value:
        token = value.get("token")
        return EmbeddingRef(path=str(value["path"]), token=None if token is None else str(token))
    raise BadInput("embeddings", f"expected {{'path', 'token'}} or 'PATH', got {value!r}")


def _coerce(name: str, annotation: Any, value: Any) -> Any:
    text = str(annotation)
    if value is None:
        if "None" in text:
            return None
        raise BadInput(name, "must not be null")
    try:
        if text.startswith("bool"):
            if not isinstance(value, bool):
                raise TypeError
            return value
        if text.startswith("int"):
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise TypeError
            return int(value)
        if text.startswith("float"):
            if isinstance(value, bool):
                raise TypeError
            return float(value)
        if text.startswith("str"):
            if not isinstance(value, str):
                raise TypeError
            return value
    except (TypeError, ValueError) as exc:
        expected = text.split(" ")[0]
        raise BadInput(name, f"expected {expected}, got {value!r}") from exc
    return value
