"""The provenance record of one image: what made it, typed and versioned.

One `ProvenanceRecord` is built per generated image (`build_record`), and the same object is
written into the PNG (the `atelier` chunk) and into the library (`outputs.record_json`). Readers
(history, reproduce, the inspector, import) parse it with `ProvenanceRecord.from_json`, which also
reads every earlier version.

Versions:
- 1: the first layout.
- 2: the environment names the machine (`environment.node`); a version 1 record reads with no
  node name.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from core.errors import BadInput
from core.request import GenerationRequest, canonical_json

if TYPE_CHECKING:
    from core.engine.runner import EngineResult, GeneratedImage
    from core.models.resolve import ResolvedModel

RECORD_FORMAT = "atelier-record"
RECORD_VERSION = 2
READABLE_VERSIONS = (1, 2)


@dataclass(frozen=True)
class ModelRecord:
    """A model (base or refiner) as it was resolved: where it came from and its fingerprint."""

    name: str
    kind: str
    source_type: str
    location: str
    revision: str | None
    fingerprint: str
    components: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "source": {
                "type": self.source_type,
                "location": self.location,
                "revision": self.revision,
            },
            "fingerprint": self.fingerprint,
            "components": dict(self.components),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelRecord:
        source = data.get("source") or {}
        return cls(
            name=str(data["name"]),
            kind=str(data.get("kind", "")),
            source_type=str(source.get("type", "")),
            location=str(source.get("location", "")),
            revision=source.get("revision"),
            fingerprint=str(data["fingerprint"]),
            components={str(k): str(v) for k, v in (data.get("components") or {}).items()},
        )

    @classmethod
    def of(cls, model: ResolvedModel) -> ModelRecord:
        return cls(
            name=model.name,
            kind=model.kind,
            source_type=model.source.type,
            location=model.source.location,
            revision=model.source.revision,
            fingerprint=model.fingerprint,
            components=dict(model.components),
        )


@dataclass(frozen=True)
class WeightFile:
    """A weight file used beside the model: a VAE, a LoRA (with its weight), an embedding (with
    its token)."""

    path: str
    sha256: str
    weight: float | None = None
    token: str | None = None

    def to_dict(self, *keys: str) -> dict[str, Any]:
        data: dict[str, Any] = {"path": self.path, "sha256": self.sha256}
        for key in keys:
            data[key] = getattr(self, key)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WeightFile:
        return cls(
            path=str(data["path"]),
            sha256=str(data["sha256"]),
            weight=data.get("weight"),
            token=data.get("token"),
        )


@dataclass(frozen=True)
class InputRecord:
    """An input image (init image, mask, depth map): its hash and what the request named."""

    sha256: str
    source: str


@dataclass(frozen=True)
class ImageRecord:
    """The one image a record is about."""

    index: int
    seed: int
    width: int
    height: int
    pixel_sha256: str


@dataclass(frozen=True)
class ProvenanceRecord:
    request: GenerationRequest
    request_hash: str
    pipeline_class: str | None
    refiner_pipeline_class: str | None
    scheduler_class: str | None
    scheduler_config: dict[str, Any]
    base: ModelRecord
    refiner: ModelRecord | None
    vae: WeightFile | None
    loras: tuple[WeightFile, ...]
    embeddings: tuple[WeightFile, ...]
    inputs: dict[str, InputRecord]
    environment: dict[str, Any]  # core.records.environment_fingerprint, plain JSON
    image: ImageRecord | None = None
    version: int = RECORD_VERSION

    # ---- reading and writing ---------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        models: dict[str, Any] = {"base": self.base.to_dict()}
        if self.refiner is not None:
            models["refiner"] = self.refiner.to_dict()
        if self.vae is not None:
            models["vae"] = self.vae.to_dict()
        models["loras"] = [lora.to_dict("weight") for lora in self.loras]
        models["embeddings"] = [e.to_dict("token") for e in self.embeddings]
        data: dict[str, Any] = {
            "format": RECORD_FORMAT,
            "version": self.version,
            "request": self.request.to_dict(),
            "request_hash": self.request_hash,
            "pipeline": {
                "class": self.pipeline_class,
                "refiner_class": self.refiner_pipeline_class,
            },
            "scheduler": {
                "name": self.request.scheduler,
                "class": self.scheduler_class,
                "config": self.scheduler_config,
            },
            "models": models,
            "inputs": {k: {"sha256": v.sha256, "source": v.source} for k, v in self.inputs.items()},
            "environment": self.environment,
        }
        if self.image is not None:
            data["image"] = {
                "index": self.image.index,
                "seed": self.image.seed,
                "width": self.image.width,
                "height": self.image.height,
                "pixel_sha256": self.image.pixel_sha256,
            }
        return data

    def to_json(self) -> str:
        """Canonical JSON (sorted keys, no spaces, UTF-8 kept): the text of the PNG's `atelier`
        chunk and of the library's `outputs.record_json`."""
        return canonical_json(self.to_dict())

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProvenanceRecord:
        """Read a record of any version; BadInput naming the field that is wrong."""
        if data.get("format") != RECORD_FORMAT:
            raise BadInput("format", f"{data.get('format')!r} is not an Atelier record")
        version = data.get("version")
        if version not in READABLE_VERSIONS:
            raise BadInput(
                "version",
                f"record version {version!r}; this Atelier reads versions "
                f"{', '.join(map(str, READABLE_VERSIONS))} (a newer Atelier wrote it?)",
            )
        try:
            return cls._read(data, int(version))
        except (KeyError, TypeError, ValueError) as exc:
            raise BadInput("record", f"not a complete Atelier record: {exc!r}") from exc

    @classmethod
    def _read(cls, data: dict[str, Any], version: int) -> ProvenanceRecord:
        models = data["models"]
        pipeline = data.get("pipeline") or {}
        scheduler = data.get("scheduler") or {}
        image = data.get("image")
        vae = models.get("vae")
        refiner = models.get("refiner")
        return cls(
            request=GenerationRequest.from_dict(data["request"]),
            request_hash=str(data["request_hash"]),
            pipeline_class=pipeline.get("class"),
            refiner_pipeline_class=pipeline.get("refiner_class"),
            scheduler_class=scheduler.get("class"),
            scheduler_config=dict(scheduler.get("config") or {}),
            base=ModelRecord.from_dict(models["base"]),
            refiner=ModelRecord.from_dict(refiner) if refiner else None,
            vae=WeightFile.from_dict(vae) if vae else None,
            loras=tuple(WeightFile.from_dict(x) for x in models.get("loras") or ()),
            embeddings=tuple(WeightFile.from_dict(x) for x in models.get("embeddings") or ()),
            inputs={
                str(k): InputRecord(str(v["sha256"]), str(v["source"]))
                for k, v in (data.get("inputs") or {}).items()
            },
            environment=dict(data.get("environment") or {}),
            image=ImageRecord(
                index=int(image["index"]),
                seed=int(image["seed"]),
                width=int(image["width"]),
                height=int(image["height"]),
                pixel_sha256=str(image["pixel_sha256"]),
            )
            if image
            else None,
            version=version,
        )

    @classmethod
    def from_json(cls, text: str) -> ProvenanceRecord:
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise BadInput("record", f"not JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise BadInput("record", "expected a JSON object")
        return cls.from_dict(data)

    @staticmethod
    def request_fields(text: str) -> dict[str, Any]:
        """Only the recorded request's fields, as plain JSON: the fast path for listing and
        exporting many outputs (about 4x quicker than `from_json`); {} for an unreadable
        record."""
        try:
            data = json.loads(text)
        except ValueError:
            return {}
        request = data.get("request") if isinstance(data, dict) else None
        return request if isinstance(request, dict) else {}

    # ---- one image -------------------------------------------------------------------------
    def for_image(self, image: ImageRecord) -> ProvenanceRecord:
        from dataclasses import replace

        return replace(self, image=image)


def build_record(
    request: GenerationRequest,
    model: ResolvedModel,
    refiner: ResolvedModel | None,
    result: EngineResult,
    inputs: dict[str, InputRecord],
    environment: dict[str, Any],
    hash_folder: Callable[[str], str],
    hash_file: Callable[[str], str],
) -> ProvenanceRecord:
    """The record shared by every image of one run (`for_image` adds each image). A VAE is a
    folder, hashed with `hash_folder`; LoRAs and embeddings are files, hashed with `hash_file`."""
    return ProvenanceRecord(
        request=request,
        request_hash=request.hash(),
        pipeline_class=result.pipeline,
        refiner_pipeline_class=result.refiner_pipeline,
        scheduler_class=result.scheduler,
        scheduler_config=dict(result.scheduler_config),
        base=ModelRecord.of(model),
        refiner=ModelRecord.of(refiner) if refiner is not None else None,
        vae=WeightFile(request.vae, hash_folder(request.vae)) if request.vae else None,
        loras=tuple(
            WeightFile(lr.path, hash_file(lr.path), weight=lr.weight) for lr in request.loras
        ),
        embeddings=tuple(
            WeightFile(e.path, hash_file(e.path), token=e.token) for e in request.embeddings
        ),
        inputs=inputs,
        environment=environment,
    )


def image_record(generated: GeneratedImage, pixel_sha256: str) -> ImageRecord:
    return ImageRecord(
        index=generated.index,
        seed=generated.seed,
        width=generated.image.width,
        height=generated.image.height,
        pixel_sha256=pixel_sha256,
    )
