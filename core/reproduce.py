"""Reproduce: run a recorded output again, compare the pixels, and say why they differ.

The record of an output holds the resolved request (seed, steps, sizes, device, dtype, threads,
inputs as `sha256:` store refs) and the fingerprints of every weight used. Reproducing restores
what can be restored (a model that moved is found again among the library's variants by its
fingerprint; a missing device is replaced by the current one), runs only the pipeline call that
made the image, and compares: `exact` (pixel hashes equal), `close` (PSNR >= 40 dB) or
`diverged`. An output that cannot run (an input or adapter file is gone) is `missing`; one whose
run failed is `failed`. Each report lists the recorded fields that differ from now.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import AtelierError, BadInput
from core.provenance import ModelRecord, ProvenanceRecord
from core.records import environment_differences

if TYPE_CHECKING:
    from PIL import Image

    from core.engine.runner import ProgressCallback
    from core.generation import Generator
    from core.library import Library
    from core.library.entities import Output
    from core.models.resolve import ResolvedModel
    from core.request import GenerationRequest

CLOSE_PSNR_DB = 40.0
PAGE_SIZE = 50
INPUT_FIELDS = ("init_image", "mask", "depth_map")


@dataclass(frozen=True)
class Difference:
    """A recorded field whose current value is not the recorded one (None: absent now)."""

    field: str
    recorded: Any
    current: Any

    def to_dict(self) -> dict[str, Any]:
        return {"field": self.field, "recorded": self.recorded, "current": self.current}


@dataclass
class ReproduceReport:
    output_id: int
    status: str  # "exact" | "close" | "diverged" | "missing" | "failed"
    psnr: float | None = None
    differences: list[Difference] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    new_output_id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        finite = self.psnr is not None and math.isfinite(self.psnr)
        return {
            "output_id": self.output_id,
            "status": self.status,
            "psnr": round(self.psnr, 3) if finite and self.psnr is not None else None,
            "differences": [d.to_dict() for d in self.differences],
            "notes": list(self.notes),
            "new_output_id": self.new_output_id,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReproduceReport:
        """The inverse of `to_dict` (an exact report's infinite PSNR comes back as None)."""
        return cls(
            output_id=int(data["output_id"]),
            status=str(data["status"]),
            psnr=data.get("psnr"),
            differences=[
                Difference(d["field"], d.get("recorded"), d.get("current"))
                for d in data.get("differences", [])
            ],
            notes=list(data.get("notes", [])),
            new_output_id=data.get("new_output_id"),
        )

    def differ(self, name: str, recorded: Any, current: Any) -> None:
        self.differences.append(Difference(name, recorded, current))

    def missing(self, name: str, recorded: Any, note: str) -> None:
        self.status = "missing"
        self.differ(name, recorded, None)
        self.notes.append(f"missing input: {note}")


# ---- selection -----------------------------------------------------------------------------
def select_outputs(
    library: Library,
    *,
    run_id: int | None = None,
    project: str | None = None,
    page_size: int = PAGE_SIZE,
) -> Iterator[Output]:
    """The outputs of one run, of one project, or (neither given) all, a page at a time.

    Outputs recorded while iterating (reproduce with keep=True) are not visited.
    """
    if run_id is not None:
        run = library.runs.get_run(run_id)
        if run is None:
            raise BadInput("run", f"no run {run_id} in this library")
        for output_id in run.output_ids:
            output = library.runs.get_output(output_id)
            if output is not None:
                yield output
        return
    if project is not None and library.projects.get(project) is None:
        raise BadInput("project", f"no project named {project!r} in this library")
    seen: set[int] = set()
    newest: int | None = None
    offset = 0
    while True:  # newer outputs push older ones down a page: `seen` skips the repeats
        page = library.runs.list_outputs(offset=offset, limit=page_size, project=project)
        if newest is None:
            newest = max((o.id for o in page), default=0)
        for output in page:
            if output.id <= newest and output.id not in seen:
                seen.add(output.id)
                yield output
        if len(page) < page_size:
            return
        offset += page_size


# ---- reproduce -----------------------------------------------------------------------------
def reproduce_output(
    library: Library,
    generator: Generator,
    output: int | Output,
    *,
    keep: bool = False,
    threads: int | None = None,
    on_step: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> ReproduceReport:
    """Run a recorded output (an id, or an Output from `select_outputs`) again and compare.

    `keep` records the new image as an output of the original's project; `threads` is a what-if
    run with another torch thread count than the recorded one; `cancel` set stops the run at
    its next step (the report then says it failed). BadInput for an unknown id.
    """
    if isinstance(output, int):
        found = library.runs.get_output(output)
        if found is None:
            raise BadInput("output_id", f"no output {output} in this library")
        output = found
    return _Reproduction(library, generator, output, cancel).run(keep, threads, on_step)


class _Reproduction:
    """One output being reproduced: restore, check, run, compare; the report collects why."""

    def __init__(
        self,
        library: Library,
        generator: Generator,
        output: Output,
        cancel: threading.Event | None = None,
    ) -> None:
        self.library, self.generator, self.output = library, generator, output
        self.cancel = cancel
        self.report = ReproduceReport(output.id, "failed")

    def run(
        self, keep: bool, threads: int | None, on_step: ProgressCallback | None
    ) -> ReproduceReport:
        try:
            self.reproduce(keep, threads, on_step)
        except AtelierError as exc:  # a record that cannot be read, an input that is gone...
            self.report.notes.append(f"cannot be run again: {exc}")
        return self.report

    def reproduce(self, keep: bool, threads: int | None, on_step: ProgressCallback | None) -> None:
        report = self.report
        record = ProvenanceRecord.from_json(self.output.record_json)
        if record.image is None:
            raise BadInput("image", "the record names no image")
        request, index = record.request, record.image.index
        for role, key, recorded in (
            ("base", "model", record.base),
            ("refiner", "refiner", record.refiner),
        ):
            if recorded is not None and (model := self.restore_model(role, recorded)):
                request = request.replace(**{key: model.name})
        self.check_adapters(record)
        self.check_inputs(request)
        request = self.restore_device(request)
        if threads is not None and threads != request.threads:
            report.notes.append(f"what-if run with {threads} threads (recorded {request.threads})")
            request = request.replace(threads=threads)
        self.environment_differences(record.environment, request)
        if report.status == "missing":
            return
        request, pick = _single_call(request, index)
        image, sha, facts = self.execute(request, pick, keep, on_step)
        report.new_output_id = facts.pop("output_id", None)
        self.compare(record.image.pixel_sha256, image, sha)
        for name, old, new in environment_differences(_run_facts(record), facts):
            report.differ(name, old, new)

    # ---- restoring -------------------------------------------------------------------------
    def restore_model(self, role: str, recorded: ModelRecord) -> ResolvedModel | None:
        """The recorded model; else a library variant with the recorded fingerprint; else as is."""
        name, wanted = recorded.name, recorded.fingerprint
        current: ResolvedModel | None = None
        try:
            current = self.generator.resolve_model(name, role)
        except AtelierError as exc:
            problem = str(exc)
        else:
            if current.fingerprint == wanted:
                return current
            problem = "its weights changed"
        for variant in self.library.models.find_by_fingerprint(wanted):
            if variant.name == name:
                continue
            try:
                again = self.generator.resolve_model(variant.name, role)
            except AtelierError:
                continue
            if again.fingerprint == wanted:
                self.report.notes.append(
                    f"{role} model {name!r}: {problem}; found again by fingerprint "
                    f"{wanted[:12]} as {variant.name!r} ({again.path})"
                )
                return again
        if current is None:
            self.report.missing(f"models.{role}", name, f"{role} model {name!r}: {problem}")
            return None
        self.report.notes.append(f"{role} model {name!r}: {problem}; no library model has them")
        self.report.differ(f"models.{role}.fingerprint", wanted, current.fingerprint)
        old, new = recorded.components, current.components
        for part in sorted(old.keys() | new.keys()):
            if old.get(part) != new.get(part):
                self.report.differ(f"models.{role}.components.{part}", old.get(part), new.get(part))
        return current

    def check_adapters(self, record: ProvenanceRecord) -> None:
        from core.models.fingerprint import fingerprint_model
        from core.records import file_sha256

        for kind, files in (("loras", record.loras), ("embeddings", record.embeddings)):
            for i, item in enumerate(files):
                path = Path(item.path)
                if not path.is_file():
                    self.report.missing(f"{kind}[{i}]", str(path), f"{kind}[{i}] {path} is gone")
                elif (sha := file_sha256(path)) != item.sha256:
                    self.report.differ(f"{kind}[{i}].sha256", item.sha256, sha)
        vae = record.vae
        if vae is not None and not Path(vae.path).exists():
            self.report.missing("vae", vae.path, f"vae {vae.path} is gone")
        elif vae is not None:
            now = fingerprint_model(Path(vae.path), self.library.file_hashes).sha256
            if now != vae.sha256:
                self.report.differ("vae.sha256", vae.sha256, now)

    def check_inputs(self, request: GenerationRequest) -> None:
        for name in INPUT_FIELDS:
            ref = getattr(request, name)
            if not ref or not ref.startswith("sha256:"):
                continue
            asset = self.library.assets.get(ref.removeprefix("sha256:"))
            if asset is None or not (self.library.store.root / asset.relpath).is_file():
                self.report.missing(name, ref, f"{name} {ref} is no longer in the store")

    def restore_device(self, request: GenerationRequest) -> GenerationRequest:
        from core.engine.device import select_device, select_dtype

        try:
            select_device(request.device)
            return request
        except BadInput:
            device = select_device(None)
        try:
            dtype = select_dtype(device, request.dtype)
        except BadInput:
            dtype = select_dtype(device, None)
        self.report.notes.append(f"device {request.device} is not available: ran on {device}")
        return request.replace(device=device, dtype=dtype)

    def environment_differences(self, recorded: dict[str, Any], request: GenerationRequest) -> None:
        from core.records import environment_fingerprint

        assert request.device is not None and request.dtype is not None
        current = environment_fingerprint(request.device, request.dtype)
        current["threads"] = request.threads  # as the engine applies them
        for name, old, new in environment_differences(recorded, current):
            self.report.differ(name, old, new)

    # ---- running and comparing -------------------------------------------------------------
    def execute(
        self, request: GenerationRequest, pick: int, keep: bool, on_step: ProgressCallback | None
    ) -> tuple[Image.Image, str, dict[str, Any]]:
        """The image, its pixel hash, and what the run says of itself (and the new output id)."""
        from core.engine.runner import EngineInputs
        from core.records import pixel_sha256

        if keep:
            made = self.generator.generate(
                request,
                project=self.output.project,
                on_step=on_step,
                cancel=self.cancel,
                parents=(self.output.id,),
            )
            kept = self.library.runs.get_output(made[pick].output_id)
            assert kept is not None
            kept_record = ProvenanceRecord.from_json(kept.record_json)
            facts = {**_run_facts(kept_record), "output_id": kept.id}
            return _open_image(Path(made[pick].path)), made[pick].sha256, facts
        prepared = self.generator.prepare(request)
        inputs = EngineInputs(**{k: v.image for k, v in prepared.inputs.items()})
        result = self.generator.engine.run(
            prepared.request,
            prepared.model,
            inputs,
            refiner=prepared.refiner,
            on_step=on_step,
            cancel=self.cancel,
        )
        image = result.images[pick].image
        facts = {
            "pipeline": {"class": result.pipeline, "refiner_class": result.refiner_pipeline},
            "scheduler": {"class": result.scheduler, "config": result.scheduler_config},
        }
        return image, pixel_sha256(image), json.loads(json.dumps(facts))

    def compare(self, recorded_sha: str, image: Image.Image, sha: str) -> None:
        from core.records import psnr

        report = self.report
        report.status = "exact" if sha == recorded_sha else "diverged"
        if report.status == "exact":
            return
        asset = self.library.assets.get(self.output.asset_sha256)
        paths = [self.library.store.root / asset.relpath] if asset is not None else []
        stored = next((p for p in [*paths, Path(self.output.path)] if p.is_file()), None)
        if stored is None:
            report.notes.append("the stored image is gone: the PSNR cannot be measured")
            return
        try:
            report.psnr = psnr(image, _open_image(stored))
        except BadInput as exc:
            report.notes.append(str(exc))
            return
        if report.psnr >= CLOSE_PSNR_DB:
            report.status = "close"


def _single_call(request: GenerationRequest, index: int) -> tuple[GenerationRequest, int]:
    """Only the pipeline call that made image `index`: seeds are seed + call * size + j."""
    size, count = request.batch_size, request.batch_count
    if request.seed is None or not 0 <= index < size * count:
        raise BadInput("image.index", f"{index} is not an image of this record's request")
    call = index // size
    return request.replace(seed=request.seed + call * size, batch_count=1), index % size


def _run_facts(record: ProvenanceRecord) -> dict[str, Any]:
    """What a run says of itself, as `execute` gives it: pipeline and scheduler classes."""
    return {
        "pipeline": {
            "class": record.pipeline_class,
            "refiner_class": record.refiner_pipeline_class,
        },
        "scheduler": {"class": record.scheduler_class, "config": record.scheduler_config},
    }


def _open_image(path: Path) -> Image.Image:
    from PIL import Image

    with Image.open(path) as file:
        return file.copy()
