"""Plain, frozen values the repositories hand back (never live ORM rows) and take in."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Project:
    id: int
    name: str
    created_at: datetime


@dataclass(frozen=True)
class Prompt:
    id: int
    project_id: int | None
    text: str
    negative: str
    tags: tuple[str, ...]
    favourite: bool
    created_at: datetime


@dataclass(frozen=True)
class Seed:
    id: int
    value: int
    label: str
    created_at: datetime


@dataclass(frozen=True)
class Mask:
    id: int
    asset_sha256: str
    width: int
    height: int
    label: str
    created_at: datetime


@dataclass(frozen=True)
class ModelVariant:
    id: int
    name: str
    source_type: str
    location: str
    kind: str
    revision: str | None
    config_path: str | None
    default_dtype: str | None
    fingerprint: str | None
    components: dict[str, str]
    size_bytes: int
    allow_pickle: bool
    created_at: datetime


@dataclass(frozen=True)
class Asset:
    sha256: str
    relpath: str
    size: int
    format: str
    role: str
    width: int | None
    height: int | None
    created_at: datetime


@dataclass(frozen=True)
class NewAsset:
    """A file already in the content store, to be registered with a run's outputs."""

    sha256: str
    relpath: str
    size: int
    format: str
    role: str = "output"
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True)
class JobClaim:
    """Who runs a job, and which start of it: `worker` (host:pid:token) and its `attempts`
    count when claimed. A result commits only while the job is still running under it."""

    worker: str
    attempts: int


@dataclass(frozen=True)
class NewOutput:
    """One image of a run about to be recorded. `parent_ids` are earlier outputs it came from."""

    asset: NewAsset
    path: str
    image_index: int
    seed: int
    pixel_sha256: str
    record_json: str
    parent_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class NewRun:
    """One finished run about to be recorded with others (`RunRepository.record_runs`)."""

    project_id: int
    job_id: int | None
    request_json: str
    request_hash: str
    environment_json: str
    timings_json: str
    outputs: tuple[NewOutput, ...]
    claim: JobClaim | None = None
    finishes_job: bool = True


@dataclass(frozen=True)
class Output:
    id: int
    run_id: int
    project: str
    asset_sha256: str
    path: str
    image_index: int
    seed: int
    pixel_sha256: str
    record_json: str
    created_at: datetime
    parent_ids: tuple[int, ...] = ()
    child_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class Run:
    id: int
    job_id: int | None
    project_id: int
    project: str
    request_json: str
    request_hash: str
    environment_json: str
    timings_json: str
    created_at: datetime
    output_ids: tuple[int, ...] = field(default=())
