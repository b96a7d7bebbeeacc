"""`train`: a spec in, a trained variant in the library out. `atelier train --run` calls it, and
the queue's worker for a job of kind "train".

The order makes it safe: check everything (spec, name, base model, images) before any work;
train in the run's own folder under `<home>/training/<spec hash>`, checkpointing there; export
to a temporary name beside the variant's place and rename it in; then register the variant and
its training run. A stopped or failed run leaves its last checkpoint and no variant; the same
spec run again resumes from that checkpoint.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import AtelierError, BadInput, Cancelled
from core.training.loop import TrainingData, TrainingProgress, run_loop
from core.training.spec import TrainingSpec

if TYPE_CHECKING:
    from core.generation import Generator
    from core.library import Library
    from core.models.resolve import ResolvedModel
    from core.request import GenerationRequest
    from core.training.dataset import InstanceImage
    from core.training.parts import BaseParts
    from core.training.prior import ClassImages
    from core.training.samples import Sample

TRAINED_DIR = "trained"  # under the library home: the variants' files
RUNS_DIR = "training"  # under the library home: each run's checkpoints, by spec hash
RECORD_FORMAT = "atelier-training-record"


@dataclass(frozen=True)
class TrainedVariant:
    name: str
    kind: str
    fingerprint: str
    path: str
    base: str
    method: str = ""
    training_run: int | None = None  # the training_runs row: `atelier reproduce --training-run`

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Prepared:
    """A checked spec with its defaults resolved, the base model and the instance images."""

    spec: TrainingSpec
    model: ResolvedModel
    images: list[InstanceImage]
    warnings: tuple[str, ...]


def prepare(
    spec: TrainingSpec,
    library: Library,
    generator: Generator | None = None,
    *,
    check_name: bool = True,
) -> Prepared:
    """Check everything a run needs, reading the images; BadInput before any work is done.
    `check_name=False` (a reproduction, which registers nothing) lets the name be taken."""
    from core.engine.device import default_threads, select_device
    from core.generation import Generator
    from core.training.dataset import load_instance_images
    from core.training.parts import check_supported
    from core.training.precision import check_precision

    spec.validate()
    if check_name:
        check_name_free(library, spec.name)
    generator = generator or Generator(library)
    model = generator.resolve_model(spec.base, "base")
    check_supported(model.kind, spec.method, spec.base)
    resolution = spec.resolution or int(model.defaults.get("width") or 512)
    device = select_device(spec.device)
    check_precision(spec.mixed_precision, device)
    threads = default_threads(device, resolution * resolution * spec.batch_size)
    resolved = dataclasses.replace(spec.resolved(resolution, threads), device=device)
    images = load_instance_images(resolved.images, int(resolved.resolution or 0), spec.prompt)
    return Prepared(resolved, model, images, tuple(_warnings(resolved, model)))


def train(
    spec: TrainingSpec,
    library: Library,
    on_progress: Callable[[TrainingProgress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    *,
    on_note: Callable[[str], None] | None = None,
    on_sample: Callable[[list[Sample]], None] | None = None,
    job_id: int | None = None,
    project: str = "default",
    generator: Generator | None = None,
) -> TrainedVariant:
    """Train `spec` (resuming its last checkpoint if a run of the same spec was stopped) and
    register the result in `library` (a queued run: with its `job_id`, which it ends as done).
    Every `spec.sample_every` steps, samples go to history and to `on_sample`. Raises Cancelled
    when `should_stop` stopped it."""
    from core.generation import Generator

    generator = generator or Generator(library)
    prepared = prepare(spec, library, generator)
    for warning in prepared.warnings:
        if on_note is not None:
            on_note(f"warning: {warning}")
    folder = library.home / RUNS_DIR / prepared.spec.hash()[:16]
    trained = _train(
        generator,
        prepared,
        folder,
        on_progress,
        should_stop,
        on_note,
        samples=_Samples(job_id, project, on_sample),
    )
    record = {**trained.record, "job_id": job_id}
    variant = _export_and_register(library, prepared, trained.method, trained.base, record, job_id)
    shutil.rmtree(folder, ignore_errors=True)
    return variant


@dataclass(frozen=True)
class Retrained:
    """A run trained again without touching the library: its weights' fingerprint (the
    exported file's, as the variant's was taken) and its record."""

    spec: TrainingSpec
    fingerprint: str
    record: dict[str, Any]


def retrain(
    prepared: Prepared,
    library: Library,
    on_progress: Callable[[TrainingProgress], None] | None = None,
    *,
    on_note: Callable[[str], None] | None = None,
) -> Retrained:
    """Train a prepared spec from its first step in a temporary folder (never from a kept
    checkpoint), export it there, fingerprint it and delete it: nothing is registered and
    nothing is left under `trained/`. The name stays the spec's: it is in the file's metadata."""
    import tempfile

    from core.generation import Generator
    from core.models.fingerprint import fingerprint_model

    (library.home / RUNS_DIR).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".retrain-", dir=library.home / RUNS_DIR) as work:
        folder = Path(work)
        trained = _train(
            Generator(library), prepared, folder / "checkpoints", on_progress, None, on_note
        )
        (folder / "export").mkdir()
        made = trained.method.export(folder / "export", prepared.spec, trained.base)
        fingerprint = fingerprint_model(made).sha256
    return Retrained(prepared.spec, fingerprint, trained.record)


@dataclass(frozen=True)
class _Samples:
    """Where a run's samples go: its job, its project, and who hears of them."""

    job_id: int | None
    project: str
    heard: Callable[[list[Sample]], None] | None


@dataclass(frozen=True)
class _Trained:
    method: Any
    base: dict[str, Any]
    record: dict[str, Any]


def _train(
    generator: Generator,
    prepared: Prepared,
    folder: Path,
    on_progress: Callable[[TrainingProgress], None] | None,
    should_stop: Callable[[], bool] | None,
    on_note: Callable[[str], None] | None,
    *,
    samples: _Samples | None = None,
) -> _Trained:
    """The loop over a prepared spec, checkpointing in `folder`; the trained method and the
    run's record. Raises Cancelled when `should_stop` stopped it. Without `samples` (a
    reproduction), no samples are drawn whatever the spec says."""
    from core.engine.device import thread_count

    spec = prepared.spec
    started = time.perf_counter()
    with thread_count(int(spec.threads or 1)):
        prior = _class_images(generator, prepared, on_note)
        parts, method, data = _set_up(prepared, prior)
        carry: dict[str, Any] = {"samples": []}
        after_step = None
        if spec.sample_every and samples is not None:
            from core.training.samples import Sampler

            sampler = Sampler(
                generator.library, spec, prepared.model, parts, samples.job_id, samples.project
            )
            heard = samples.heard

            def after_step(step: int) -> None:
                if sampler.due(step):
                    drawn = sampler.draw(step)
                    carry["samples"] = [*carry["samples"], *(s.output_id for s in drawn)]
                    if heard is not None:
                        heard(drawn)

        try:
            result = run_loop(
                spec, parts, method, data, folder, on_progress, should_stop, after_step, carry
            )
        except RuntimeError as exc:
            raise _failure(exc, folder) from exc
        if result.stopped:
            raise Cancelled(
                f"training stopped at step {result.step} of {spec.steps}; its checkpoint is kept "
                f"in {folder}: run the same settings again to go on from there"
            )
        base = _base_record(prepared.model)
        record = _record(prepared, prior, base, result.losses, result.resumed_from)
    record["seconds"] = round(time.perf_counter() - started, 3)
    record["samples"] = list(carry["samples"])
    return _Trained(method, base, record)


def class_images_jobs(spec: TrainingSpec, library: Library) -> list[GenerationRequest]:
    """The generation jobs that make a DreamBooth run's class images (one per class prompt),
    queued before the run; none for a run without prior preservation, nor for a prompt whose
    images an earlier run made (same base weights, class prompt, seed, count and size)."""
    from core.generation import Generator
    from core.training.prior import made_before

    if not spec.class_images:
        return []
    generator = Generator(library)
    prepared = prepare(spec, library, generator)
    fingerprint = prepared.model.fingerprint
    return [r for r in _class_requests(prepared) if made_before(generator, r, fingerprint) is None]


# ---- checks ------------------------------------------------------------------------------
def check_name_free(library: Library, name: str) -> None:
    """BadInput unless `name` is free for a new variant (no model, no file of that name)."""
    if library.models.get(name) is not None:
        raise BadInput("name", f"{name!r} is already a model in this library; choose another name")
    if (library.home / TRAINED_DIR / name).exists() or any(
        (library.home / TRAINED_DIR).glob(f"{name}.*")
    ):
        raise BadInput("name", f"{library.home / TRAINED_DIR / name}: already exists")
    if "/" in name or "\\" in name or name.startswith("."):
        raise BadInput("name", f"{name!r}: a name cannot hold / or \\ or start with a dot")


def _warnings(spec: TrainingSpec, model: ResolvedModel) -> list[str]:
    """An identifier the tokenizer already knows as a whole word carries that word's meaning."""
    import json

    folder = model.path / "tokenizer"
    if (folder / "vocab.json").is_file():
        vocab = json.loads((folder / "vocab.json").read_text(encoding="utf-8"))
    elif (folder / "tokenizer.json").is_file():
        saved = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
        vocab = saved["model"]["vocab"]
    else:
        return []
    identifier = identifier_of(spec)
    if identifier and f"{identifier.lower()}</w>" in vocab:
        return [
            f"the identifier {identifier!r} is already a word this model knows; a rare word "
            "(such as zxq) keeps its old meaning out of the subject"
        ]
    return []


def identifier_of(spec: TrainingSpec) -> str | None:
    """The subject's identifier: the token, else the prompt's first word not in the class
    prompt (and not an article)."""
    if spec.token:
        return spec.token
    known = set((spec.class_prompt or "").lower().replace("|", " ").split())
    known |= {"a", "an", "the", "of", "photo"}
    for word in spec.prompt.replace(",", " ").split():
        if word.lower() not in known:
            return word
    return None


def _failure(exc: RuntimeError, folder: Path) -> AtelierError:
    from core.training.checkpoint import latest_checkpoint

    kept = latest_checkpoint(folder)
    where = f"the last checkpoint, {kept}, is kept" if kept else "no checkpoint was written yet"
    if "out of memory" in str(exc).lower():
        return AtelierError(
            f"training ran out of memory ({exc}); {where}. Lower --resolution or the batch size"
        )
    return AtelierError(f"training failed: {exc}; {where}")


# ---- setting up --------------------------------------------------------------------------
def _class_images(
    generator: Generator, prepared: Prepared, on_note: Callable[[str], None] | None
) -> ClassImages | None:
    from core.training.prior import class_images

    if not prepared.spec.class_images:
        return None
    requests = _class_requests(prepared)
    return class_images(generator, requests, prepared.model.fingerprint, on_note)


def _class_requests(prepared: Prepared) -> list[GenerationRequest]:
    """The generations that make a run's class images, from its resolved spec."""
    from core.training.prior import class_requests

    spec = prepared.spec
    return class_requests(
        spec.base,
        str(spec.class_prompt),
        spec.seed,
        spec.class_images,
        int(spec.resolution or 0),
        int(spec.threads or 1),
    )


def _set_up(prepared: Prepared, prior: ClassImages | None) -> tuple[BaseParts, Any, TrainingData]:
    import torch

    from core.training.dataset import to_tensor
    from core.training.methods import make_method
    from core.training.parts import encode_latents, encode_prompts, load_parts, token_ids

    spec = prepared.spec
    device = str(spec.device or "cpu")
    torch.manual_seed(spec.seed)
    parts = load_parts(prepared.model.path)
    for module in (parts.text_encoder, parts.vae, parts.unet):
        module.to(device)  # the CPU: nothing moves
    method = make_method(spec, parts)
    ids = token_ids(parts.tokenizer, [image.caption for image in prepared.images]).to(device)
    with torch.no_grad():
        pixels = to_tensor([image.pixels for image in prepared.images]).to(device)
        latents = encode_latents(parts.vae, pixels)
        hidden = None if method.trains_text else encode_prompts(parts.text_encoder, ids)
    data = TrainingData(latents=latents, ids=ids, hidden=hidden)
    if prior is not None:
        class_ids = token_ids(parts.tokenizer, list(prior.captions)).to(device)
        with torch.no_grad():
            data.class_latents = encode_latents(parts.vae, to_tensor(prior.pixels).to(device))
            if not method.trains_text:
                data.class_hidden = encode_prompts(parts.text_encoder, class_ids)
        data.class_ids = class_ids
    return parts, method, data


# ---- the result --------------------------------------------------------------------------
def _base_record(model: ResolvedModel) -> dict[str, Any]:
    return {
        "name": model.name,
        "kind": model.kind,
        "fingerprint": model.fingerprint,
        "components": dict(model.components),
        "path": str(model.path),
    }


def _record(
    prepared: Prepared,
    prior: ClassImages | None,
    base: dict[str, Any],
    losses: list[float],
    resumed_from: int,
) -> dict[str, Any]:
    from core.records import environment_fingerprint

    spec = prepared.spec
    return {
        "format": RECORD_FORMAT,
        "version": 1,
        "spec": spec.to_dict(),
        "spec_hash": spec.hash(),
        "base": {k: v for k, v in base.items() if k != "path"},
        "instance_images": [image.record() for image in prepared.images],
        "class_images": None
        if prior is None
        else {
            "run_id": prior.run_id,
            "run_ids": list(prior.run_ids),
            "prompts": sorted(set(prior.captions)),
            "output_ids": list(prior.output_ids),
            "sha256": list(prior.sha256),
            "reused": prior.reused,
        },
        "losses": [round(x, 6) for x in losses],
        "resumed_from_step": resumed_from,
        "environment": environment_fingerprint(str(spec.device), "float32"),
    }


def _export_and_register(
    library: Library,
    prepared: Prepared,
    method: Any,
    base: dict[str, Any],
    record: dict[str, Any],
    job_id: int | None = None,
) -> TrainedVariant:
    from core.models.fingerprint import fingerprint_model
    from core.models.kinds import detect_kind

    spec = prepared.spec
    home = library.home / TRAINED_DIR
    staging = home / f".{spec.name}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        made = method.export(staging, spec, base)
        final = home / made.name
        made.rename(final)
    except OSError as exc:
        raise AtelierError(
            f"{staging}: cannot write the trained {spec.method} ({exc.strerror or exc}); "
            "nothing was added to the library"
        ) from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    try:
        fingerprint = fingerprint_model(final, library.file_hashes)
        kind = method.variant_kind or detect_kind(final)
        library.models.add(
            name=spec.name,
            source_type="folder" if final.is_dir() else "single_file",
            location=str(final),
            kind=kind,
            fingerprint=fingerprint.sha256,
            components=dict(fingerprint.components),
            size_bytes=fingerprint.size_bytes,
        )
    except BaseException:
        if final.is_dir():
            shutil.rmtree(final, ignore_errors=True)
        else:
            final.unlink(missing_ok=True)
        raise
    run = library.training_runs.add(
        spec_hash=spec.hash(),
        spec_json=spec.canonical_json(),
        method=spec.method,
        variant_name=spec.name,
        variant_fingerprint=fingerprint.sha256,
        base_name=str(base["name"]),
        base_fingerprint=str(base["fingerprint"]),
        record=record,
        job_id=job_id,
    )
    return TrainedVariant(
        spec.name, kind, fingerprint.sha256, str(final), spec.base, spec.method, run.id
    )
