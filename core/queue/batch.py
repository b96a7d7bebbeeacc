"""Folder batches: every image of a folder becomes one job; watch mode adds the ones that come.

Masks and depth maps pair with an image by file stem; a per-image prompt comes from a `.txt`
sidecar or from the image's own metadata when asked. Each file is taken once per batch, also
across restarts (the batch and the files it took are in the database). A file that cannot work
(no mask for an inpaint) is queued as a failed job whose message names it, so the rest goes on.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import BadInput
from core.library.batches import BatchSettings, TakenFile
from core.queue.jobs import Job, NewJob
from core.request import GenerationRequest, with_seed

if TYPE_CHECKING:
    from core.library import Library

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
BATCH_TASKS = ("img2img", "inpaint", "upscale", "depth")
PROMPT_SOURCES = ("sidecar", "metadata")


@dataclass(frozen=True)
class BatchSpec:
    input_dir: Path
    template: GenerationRequest
    out_dir: Path
    pattern: str = "*"
    masks_dir: Path | None = None
    depth_dir: Path | None = None
    prompt_from: str | None = None
    project: str = "default"
    watch: bool = False

    def check(self) -> None:
        if self.template.task not in BATCH_TASKS:
            raise BadInput(
                "task", f"a folder batch runs {', '.join(BATCH_TASKS)}, not {self.template.task}"
            )
        for name, folder in (
            ("input", self.input_dir),
            ("masks", self.masks_dir),
            ("depth-maps", self.depth_dir),
        ):
            if folder is not None and not folder.is_dir():
                raise BadInput(name, f"{folder}: not a folder")
        if self.template.task == "inpaint" and self.masks_dir is None:
            raise BadInput(
                "masks", "an inpaint batch needs --masks DIR (masks paired by file stem)"
            )
        if self.prompt_from not in (None, *PROMPT_SOURCES):
            raise BadInput("prompt-from", f"expected one of {', '.join(PROMPT_SOURCES)}")


class FolderBatch:
    """One batch in the library: scans its folder and queues a job per new image."""

    def __init__(self, library: Library, batch_id: int, spec: BatchSpec) -> None:
        self.library = library
        self.id = batch_id
        self.spec = spec
        self._seen: dict[Path, tuple[int, int]] = {}

    @classmethod
    def open(cls, library: Library, spec: BatchSpec) -> FolderBatch:
        """The batch for this folder, output folder and task: an earlier one is continued."""
        spec.check()
        # one seed for the whole batch, fixed now
        spec = _with_template(spec, with_seed(spec.template))
        placeholder = "each image of the folder"
        spec.template.replace(
            init_image=placeholder, mask=placeholder if spec.masks_dir else None, depth_map=None
        ).validate()  # everything but the per-image inputs, checked before any job is queued
        batch_id = library.batches.open(
            str(spec.input_dir.resolve()),
            spec.pattern,
            str(spec.out_dir.resolve()),
            BatchSettings(
                template_json=spec.template.canonical_json(),
                masks_dir=str(spec.masks_dir.resolve()) if spec.masks_dir else None,
                depth_dir=str(spec.depth_dir.resolve()) if spec.depth_dir else None,
                prompt_from=spec.prompt_from,
                project=spec.project,
                watch=spec.watch,
            ),
        )
        return cls(library, batch_id, spec)

    # ---- scanning ----------------------------------------------------------------------
    def scan(self, settle: bool = False) -> list[Job]:
        """Queue a job for each image not taken yet. With `settle`, only files whose size and
        time did not change since the last scan (still being copied otherwise)."""
        taken = self.library.batches.taken(self.id)
        ready: list[tuple[Path, int, int]] = []
        for path in self._images():
            key = str(path)
            if key in taken:
                continue
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue
            state = (stat.st_size, stat.st_mtime_ns)
            if settle and self._seen.get(path) != state:
                self._seen[path] = state
                continue
            ready.append((path, *state))
        if not ready:
            return []
        new_jobs = [self._job_for(path) for path, _, _ in ready]
        jobs = self.library.queue.submit_many(new_jobs)
        self.library.batches.take(
            self.id,
            [
                TakenFile(str(path), size, mtime, job.id)
                for (path, size, mtime), job in zip(ready, jobs, strict=True)
            ],
        )
        return jobs

    def watch(
        self,
        stop: Callable[[], bool],
        on_jobs: Callable[[list[Job]], None] | None = None,
        interval_s: float = 1.0,
    ) -> None:
        """Scan every `interval_s` until `stop()`; new files are taken once they settle."""
        while not stop():
            jobs = self.scan(settle=True)
            if jobs and on_jobs:
                on_jobs(jobs)
            deadline = time.monotonic() + interval_s
            while time.monotonic() < deadline and not stop():
                time.sleep(min(0.1, interval_s))

    # ---- pieces ------------------------------------------------------------------------
    def _images(self) -> list[Path]:
        folder = self.spec.input_dir.resolve()
        return sorted(
            p
            for p in folder.glob(self.spec.pattern)
            if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
        )

    def _job_for(self, image: Path) -> NewJob:
        spec = self.spec
        changes: dict[str, object] = {"init_image": str(image)}
        failed: str | None = None
        if spec.masks_dir is not None:
            mask = _paired(spec.masks_dir, image.stem)
            if mask is None:
                expected = f"{image.stem}.png (or .jpg, .webp...)"
                failed = f"{image}: no mask named {expected} in {spec.masks_dir}"
            changes["mask"] = str(mask) if mask else None
        if spec.depth_dir is not None:
            depth = _paired(spec.depth_dir, image.stem)
            changes["depth_map"] = str(depth) if depth else None
        prompt = _prompt_for(image, spec.prompt_from)
        if prompt is not None:
            changes["prompt"] = prompt
        request = spec.template.replace(**changes)
        stem = (
            image.stem
            if _unique_stem(image)
            else f"{image.stem}-{image.suffix.lower().lstrip('.')}"
        )
        return NewJob(
            request=request,
            project=spec.project,
            out_dir=str(spec.out_dir.resolve()),
            stem=stem,
            input_path=str(image),
            batch_id=str(self.id),
            failed_because=failed,
        )


def _with_template(spec: BatchSpec, template: GenerationRequest) -> BatchSpec:
    from dataclasses import replace

    return replace(spec, template=template)


def _paired(folder: Path, stem: str) -> Path | None:
    for suffix in IMAGE_SUFFIXES:
        for candidate in (folder / f"{stem}{suffix}", folder / f"{stem}{suffix.upper()}"):
            if candidate.is_file():
                return candidate
    return None


def _unique_stem(image: Path) -> bool:
    return not any(
        (image.parent / f"{image.stem}{s}").is_file()
        for s in IMAGE_SUFFIXES
        if s != image.suffix.lower()
    )


def _prompt_for(image: Path, source: str | None) -> str | None:
    """The image's own prompt: from `<stem>.txt`, or from its PNG metadata."""
    if source == "sidecar":
        sidecar = image.with_suffix(".txt")
        if sidecar.is_file():
            return sidecar.read_text(encoding="utf-8", errors="replace").strip()
        return None
    if source == "metadata":
        from core.formats.importer import import_image

        try:  # Atelier's record, A1111 parameters, ComfyUI graphs, InvokeAI metadata
            return import_image(image).request.prompt or None
        except BadInput:
            return None  # no readable metadata: the batch's prompt; a bad image fails its job
    return None
