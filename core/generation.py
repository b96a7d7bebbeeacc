"""Generate: a request in, recorded outputs out. The CLI, the queue worker and the GUI call this.

The order of a generation is what makes it safe: resolve and check everything first (model, task,
inputs, sizes) so bad input writes nothing; run; write each PNG (with its record) to a temporary
name and rename it into place; then commit the run and its outputs in one transaction.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.engine.device import default_threads, select_device, select_dtype
from core.engine.pipelines import check_task
from core.engine.runner import (
    Engine,
    EngineInputs,
    EngineResult,
    GeneratedImage,
    ProgressCallback,
)
from core.engine.schedulers import check_scheduler
from core.errors import BadInput, ClaimLost, ModelError
from core.inputs import LoadedInput, load_input
from core.library.entities import JobClaim, NewAsset, NewOutput, NewRun
from core.library.store import StoredFile
from core.models.resolve import ResolvedModel
from core.models.variants import with_adapter_files
from core.provenance import InputRecord, ProvenanceRecord, build_record, image_record
from core.request import GenerationRequest, canonical_json, with_seed

if TYPE_CHECKING:
    from core.library import Library

FALLBACK_DEFAULTS: dict[str, Any] = {"steps": 30, "cfg_scale": 7.5, "scheduler": "default"}


@dataclass(frozen=True)
class GeneratedOutput:
    """What a caller gets for each image: ids, the file, the seed and the pixel hash."""

    output_id: int
    run_id: int
    path: str
    seed: int
    sha256: str
    index: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "output_id": self.output_id,
            "run_id": self.run_id,
            "path": self.path,
            "seed": self.seed,
            "sha256": self.sha256,
            "index": self.index,
        }


@dataclass(frozen=True)
class PreparedRequest:
    """A request with every default resolved and its inputs read: ready to run."""

    request: GenerationRequest
    model: ResolvedModel
    refiner: ResolvedModel | None
    inputs: dict[str, LoadedInput]


@dataclass(frozen=True)
class Finished:
    """A run that has finished, to record (`Generator.record_many`); fields as `record` takes."""

    prepared: PreparedRequest
    result: EngineResult
    project: str = "default"
    out_dir: Path | None = None
    job_id: int | None = None
    stem: str | None = None
    parents: tuple[int, ...] = ()
    environment: dict[str, Any] | None = None
    claim: JobClaim | None = None


@dataclass(frozen=True)
class _Png:
    """One image's PNG, encoded, and what its output row needs besides where it was put."""

    data: bytes
    out_dir: Path | None
    name: str  # in out_dir, before .png (and before -1, -2... where the name is taken)
    generated: GeneratedImage
    width: int
    height: int
    pixel_sha256: str
    record_json: str
    parent_ids: tuple[int, ...]

    def output(self, stored: StoredFile, path: Path | None, store_root: Path) -> NewOutput:
        return NewOutput(
            asset=NewAsset(
                sha256=stored.sha256,
                relpath=str(stored.path.relative_to(store_root)),
                size=stored.size,
                format="png",
                role="output",
                width=self.width,
                height=self.height,
            ),
            path=str(path if path is not None else stored.path),
            image_index=self.generated.index,
            seed=self.generated.seed,
            pixel_sha256=self.pixel_sha256,
            record_json=self.record_json,
            parent_ids=self.parent_ids,
        )


class Generator:
    """Runs requests against one library. One per worker; `engine` holds the loaded models."""

    def __init__(self, library: Library, engine: Engine | None = None) -> None:
        from core.models.fingerprint import LayeredFingerprintCache
        from core.models.resolve import ResolvedModels

        self.library = library
        self.engine = engine or Engine()
        # weight-file hashes: memory first, then the library's table (still keyed by size, mtime)
        self.hashes = LayeredFingerprintCache(library.file_hashes)
        self.models = ResolvedModels(self.hashes)  # kept while the model's files are unchanged
        self._project_ids: dict[str, int] = {}  # projects are never renamed or deleted

    # ---- models ------------------------------------------------------------------------
    def resolve_model(self, ref: str, field: str = "model") -> ResolvedModel:
        """A library variant by name, else a demo name, a folder, a file or a hub id."""
        from core.models.sources import ModelSource, parse_source

        variant = self.library.models.get(ref)
        if variant is not None:
            source = ModelSource(
                type=variant.source_type,
                location=variant.location,
                revision=variant.revision,
                config=variant.config_path,
                allow_pickle=variant.allow_pickle,
            )
        else:
            try:
                source = parse_source(ref)
            except ModelError as exc:
                if field == "model":
                    raise
                raise ModelError(f"{field}: {exc}") from exc
        return self.models.resolve(source, ref)

    def _resolve_kept(
        self, ref: str, field: str, models: dict[tuple[str, str], ResolvedModel] | None
    ) -> ResolvedModel:
        if models is None:
            return self.resolve_model(ref, field)
        if (ref, field) not in models:
            models[ref, field] = self.resolve_model(ref, field)
        return models[ref, field]

    # ---- the two steps -----------------------------------------------------------------
    def prepare(
        self, request: GenerationRequest, models: dict[tuple[str, str], ResolvedModel] | None = None
    ) -> PreparedRequest:
        """Check and resolve everything; raises BadInput/ModelError before any work is done.

        `models`: models already resolved for jobs prepared together (a cluster head's claim
        of several), by (reference, field); each is looked up once for all of them."""
        request.validate()
        request = with_adapter_files(self.library, request)  # --lora NAME, --embedding NAME
        model = self._resolve_kept(request.model, "model", models)
        check_task(model, request.task)
        refiner = None
        if request.refiner:
            refiner = self._resolve_kept(request.refiner, "refiner", models)
        inputs = {
            name: load_input(self.library, name, ref)
            for name in ("init_image", "mask", "depth_map")
            if (ref := getattr(request, name))
        }
        resolved = _resolve_defaults(request, model, inputs)
        inputs = _fit_inputs(resolved, inputs)
        return PreparedRequest(resolved, model, refiner, inputs)

    def generate(
        self,
        request: GenerationRequest,
        *,
        project: str = "default",
        out_dir: Path | None = None,
        job_id: int | None = None,
        on_step: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
        stem: str | None = None,
        parents: tuple[int, ...] = (),
    ) -> list[GeneratedOutput]:
        """Run `request` and record its images. `parents` are earlier outputs these images
        come from beyond the request's own inputs (a reproduction keeps its original)."""
        prepared = self.prepare(request)
        result = run_prepared(self.engine, prepared, on_step=on_step, cancel=cancel)
        return self.record(
            prepared,
            result,
            project=project,
            out_dir=out_dir,
            job_id=job_id,
            stem=stem,
            parents=parents,
        )

    # ---- recording ---------------------------------------------------------------------
    def record(
        self,
        prepared: PreparedRequest,
        result: EngineResult,
        *,
        project: str = "default",
        out_dir: Path | None = None,
        job_id: int | None = None,
        stem: str | None = None,
        parents: tuple[int, ...] = (),
        environment: dict[str, Any] | None = None,
        claim: JobClaim | None = None,
    ) -> list[GeneratedOutput]:
        """Write each image (PNG with its record) into the store and `out_dir`, then commit the
        run and its outputs in one transaction.

        `environment` is what ran it when that was another process or machine (a cluster
        worker's `environment_fingerprint`); None: this one. With `claim`, the commit happens
        only while the job is still running under that claim, else `ClaimLost` is raised and
        the files written for it here are removed again (nothing of a late result stays).
        """
        finished = Finished(
            prepared, result, project, out_dir, job_id, stem, parents, environment, claim
        )
        [outputs] = self.record_many([finished])
        if outputs is None:
            assert job_id is not None
            raise ClaimLost(job_id)
        return outputs

    def record_many(self, group: Sequence[Finished]) -> list[list[GeneratedOutput] | None]:
        """Record several finished runs as `record` does each, with one wait for all their
        files' fsyncs and one transaction (a cluster head's group commit). A run whose claim
        was lost gets None: nothing of it is committed and its `out_dir` files are removed
        again. Any other failure commits none of them and leaves no `out_dir` file of theirs."""
        encoded = [self._encode(item) for item in group]
        pngs = [png for _, in_run in encoded for png in in_run]
        stored = iter(self.library.store.put_many([png.data for png in pngs], "png"))
        placed = iter(
            _write_outputs(
                [(png.out_dir, png.name, png.data) for png in pngs if png.out_dir is not None],
                self.library.runs.path_recorded,
            )
        )
        root = self.library.store.root
        runs: list[NewRun] = []
        for item, (record, in_run) in zip(group, encoded, strict=True):
            outputs = tuple(
                png.output(next(stored), next(placed) if png.out_dir else None, root)
                for png in in_run
            )
            request = item.prepared.request
            runs.append(
                NewRun(
                    self._project_id(item.project), item.job_id, request.canonical_json(),
                    request.hash(), canonical_json(record.environment),
                    canonical_json(item.result.timings), outputs, item.claim,
                )
            )  # fmt: skip
        try:
            recorded = self.library.runs.record_runs(runs)
        except BaseException:
            _remove_outputs(group, runs)
            raise
        answers: list[list[GeneratedOutput] | None] = []
        for item, run, ids in zip(group, runs, recorded, strict=True):
            if ids is None:  # the store's copies are content-addressed and harmless
                _remove_outputs([item], [run])
                answers.append(None)
                continue
            run_id, output_ids = ids
            answers.append(
                [
                    GeneratedOutput(oid, run_id, o.path, o.seed, o.pixel_sha256, o.image_index)
                    for oid, o in zip(output_ids, run.outputs, strict=True)
                ]
            )
        return answers

    def _project_id(self, project: str) -> int:
        if project not in self._project_ids:  # projects are never renamed or deleted
            self._project_ids[project] = self.library.projects.get_or_create(project).id
        return self._project_ids[project]

    def _encode(self, item: Finished) -> tuple[ProvenanceRecord, list[_Png]]:
        """The run's shared record, and each image's PNG (carrying its own record and an A1111
        `parameters` text) with the name it gets in `out_dir`."""
        from core.formats.a1111 import to_infotext
        from core.formats.png import ATELIER_CHUNK, PARAMETERS_CHUNK, png_bytes
        from core.records import pixel_sha256

        prepared, result = item.prepared, item.result
        record = self._provenance(prepared, result, item.environment)
        own = [i.parent_output_id for i in prepared.inputs.values() if i.parent_output_id]
        parent_ids = tuple(dict.fromkeys(p for p in [*own, *item.parents] if p is not None))
        stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
        pngs: list[_Png] = []
        for generated in result.images:
            image = record.for_image(image_record(generated, pixel_sha256(generated.image)))
            assert image.image is not None
            name = item.stem or f"{stamp}-{generated.seed}"
            if item.stem and len(result.images) > 1:
                name = f"{item.stem}-{generated.index}"
            record_json = image.to_json()
            infotext = to_infotext(
                prepared.request, generated.seed, prepared.model.name, prepared.model.fingerprint
            )
            chunks = {ATELIER_CHUNK: record_json, PARAMETERS_CHUNK: infotext}
            pngs.append(
                _Png(
                    png_bytes(generated.image, chunks), item.out_dir, name, generated,
                    image.image.width, image.image.height, image.image.pixel_sha256, record_json,
                    parent_ids,
                )
            )  # fmt: skip
        return record, pngs

    def _provenance(
        self,
        prepared: PreparedRequest,
        result: EngineResult,
        environment: dict[str, Any] | None = None,
    ) -> ProvenanceRecord:
        """What every image of this run shares: request, models, inputs, environment."""
        from core.models.fingerprint import fingerprint_model
        from core.records import file_sha256

        request = prepared.request
        if environment is None:
            environment = run_environment(request)
        return build_record(
            request,
            prepared.model,
            prepared.refiner,
            result,
            {k: InputRecord(v.sha256, v.source) for k, v in prepared.inputs.items()},
            environment,
            hash_folder=lambda path: fingerprint_model(Path(path), self.hashes).sha256,
            hash_file=lambda path: file_sha256(Path(path)),
        )


# ---- the engine's step, on its own (a cluster worker runs only this) ----------------------
def run_prepared(
    engine: Engine,
    prepared: PreparedRequest,
    *,
    on_step: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    previews: bool = True,
) -> EngineResult:
    """Run a prepared request: the step between `Generator.prepare` and `Generator.record`."""
    return engine.run(
        prepared.request,
        prepared.model,
        EngineInputs(**{k: v.image for k, v in prepared.inputs.items()}),
        refiner=prepared.refiner,
        on_step=on_step,
        cancel=cancel,
        previews=previews,
    )


def run_environment(request: GenerationRequest) -> dict[str, Any]:
    """What runs `request` in this process, for its record: node, device, driver, threads..."""
    from core.records import environment_fingerprint

    assert request.device is not None and request.dtype is not None
    environment = environment_fingerprint(request.device, request.dtype)
    environment["threads"] = request.threads  # as the engine applies them
    return environment


def for_this_machine(prepared: PreparedRequest, asked: GenerationRequest) -> PreparedRequest:
    """`prepared` (resolved on another machine) with the device, dtype and thread count this
    machine would have chosen, where the request as asked (`asked`) left them open."""
    request = prepared.request
    changes: dict[str, Any] = {}
    device = request.device or "cpu"
    if asked.device is None:
        device = changes["device"] = select_device(None)
    if asked.dtype is None:
        changes["dtype"] = select_dtype(device, None)
    if asked.threads is None:
        init = prepared.inputs.get("init_image")
        sizes = {"width": request.width, "height": request.height}
        changes["threads"] = default_threads(device, _output_pixels(request, sizes, init))
    if not changes:
        return prepared
    return PreparedRequest(
        request.replace(**changes), prepared.model, prepared.refiner, prepared.inputs
    )


# ---- helpers ---------------------------------------------------------------------------
def _resolve_defaults(
    request: GenerationRequest, model: ResolvedModel, inputs: dict[str, LoadedInput]
) -> GenerationRequest:
    defaults = {**FALLBACK_DEFAULTS, **{k: v for k, v in model.defaults.items() if v is not None}}
    device = select_device(request.device)
    changes: dict[str, Any] = {
        "seed": with_seed(request).seed,
        "steps": request.steps or int(defaults["steps"]),
        "cfg_scale": request.cfg_scale
        if request.cfg_scale is not None
        else float(defaults["cfg_scale"]),
        "scheduler": request.scheduler or str(defaults["scheduler"]),
        "device": device,
        "dtype": select_dtype(device, request.dtype),
    }
    check_scheduler(changes["scheduler"])
    init = inputs.get("init_image")
    if request.task == "upscale":
        if request.width or request.height:
            raise BadInput(
                "width", "upscale makes 4x the input's size; leave width and height unset"
            )
    elif init is not None:
        changes["width"] = request.width or _floor8("init_image", init.image.width)
        changes["height"] = request.height or _floor8("init_image", init.image.height)
    else:
        changes["width"] = request.width or int(defaults.get("width", 512))
        changes["height"] = request.height or int(defaults.get("height", 512))
    for name, inp in inputs.items():
        changes[name] = inp.ref
    changes["threads"] = request.threads or default_threads(
        device, _output_pixels(request, changes, init)
    )
    return request.replace(**changes)


def _output_pixels(
    request: GenerationRequest, changes: dict[str, Any], init: LoadedInput | None
) -> int:
    """How many pixels a run makes, all images of a batch together (upscale: 4x each side)."""
    if request.task == "upscale":
        assert init is not None  # validate() refused an upscale without an input
        each = int(init.image.width * init.image.height * 16)
    else:
        each = int(changes["width"]) * int(changes["height"])
    return each * request.batch_size


def _fit_inputs(
    request: GenerationRequest, inputs: dict[str, LoadedInput]
) -> dict[str, LoadedInput]:
    """Check the mask matches the init image; resize both to the request's size."""
    init, mask = inputs.get("init_image"), inputs.get("mask")
    if init is not None and mask is not None and mask.image.size != init.image.size:
        raise BadInput(
            "mask",
            f"{mask.source} is {mask.image.width}x{mask.image.height} but the init image "
            f"{init.source} is {init.image.width}x{init.image.height}; they must be the same size",
        )
    if request.task == "upscale" or request.width is None or request.height is None:
        return inputs
    size = (request.width, request.height)
    fitted = dict(inputs)
    for name in ("init_image", "mask"):
        item = inputs.get(name)
        if item is not None and item.image.size != size:
            fitted[name] = LoadedInput(
                item.field, item.source, item.sha256, item.image.resize(size), item.parent_output_id
            )
    return fitted


def _floor8(field: str, value: int) -> int:
    if value < 8:
        raise BadInput(field, f"the image is {value} pixels wide or high; at least 8 are needed")
    return value - value % 8


def _write_outputs(
    items: list[tuple[Path, str, bytes]], recorded: Callable[[str], bool]
) -> list[Path]:
    """Write each `name.png` into its folder atomically and durably (`write_durably`).

    A file already there that no recorded output owns is a leftover of an interrupted run of the
    same job, and is replaced; a recorded one is never overwritten, nor one written earlier in
    this group: -1, -2... is added instead.
    """
    import os
    import secrets

    from core.library.durable import StagedFile, write_durably

    staged: list[StagedFile] = []
    taken: set[Path] = set()
    for folder, name, data in items:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.png"
        n = 0
        while path in taken or (path.exists() and recorded(str(path))):
            n += 1
            path = folder / f"{name}-{n}.png"
        taken.add(path)
        temp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
        staged.append(StagedFile(temp, path, data))
    write_durably(staged, sync_folders=True)
    return [item.target for item in staged]


def _remove_outputs(group: Sequence[Finished], runs: Sequence[NewRun]) -> None:
    """Remove the `out_dir` files written for runs not recorded (the store keeps its copies:
    they are named by content and harmless)."""
    for item, run in zip(group, runs, strict=True):
        if item.out_dir is not None:
            for new in run.outputs:
                Path(new.path).unlink(missing_ok=True)
