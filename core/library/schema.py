"""The library's tables as a SQLAlchemy 2.0 typed ORM. Rows stay inside repositories.

Timestamps are timezone-aware UTC datetimes in Python, stored as naive UTC in SQLite.
The FTS5 index over prompts (`prompts_fts*`) lives only in the migrations: it is raw SQL.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

SOURCE_TYPES = ("demo", "hub", "folder", "single_file")
ASSET_ROLES = ("input", "mask", "depth", "output", "thumbnail")
FTS_TABLE_PREFIXES = ("prompts_fts", "outputs_fts")


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime, stored without its zone."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("library timestamps must be timezone-aware")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=timezone.utc)


def is_managed_table(name: str | None) -> bool:
    """False for tables the ORM does not describe (the FTS index and its shadow tables)."""
    return not (name or "").startswith(FTS_TABLE_PREFIXES)


class Base(DeclarativeBase):
    pass


class ProjectRow(Base):
    __tablename__ = "projects"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)


class PromptRow(Base):
    __tablename__ = "prompts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id"), nullable=True)
    text: Mapped[str] = mapped_column(Text, nullable=False)
    negative: Mapped[str] = mapped_column(Text, nullable=False, default="")
    tags: Mapped[str] = mapped_column(Text, nullable=False, default="[]")
    favourite: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)


class SeedRow(Base):
    __tablename__ = "seeds"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, nullable=False)
    label: Mapped[str] = mapped_column(Text, nullable=False, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)


class AssetRow(Base):
    __tablename__ = "assets"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    relpath: Mapped[str] = mapped_column(Text, nullable=False)
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    format: Mapped[str] = mapped_column(String(16), nullable=False)
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    width: Mapped[int | None] = mapped_column(Integer, nullable=True)
    height: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)


class MaskRow(Base):
    __tablename__ = "masks"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    asset_sha256: Mapped[str] = mapped_column(ForeignKey("assets.sha256"), nullable=False)
    width: Mapped[int] = mapped_column(Integer, nullable=False)
    height: Mapped[int] = mapped_column(Integer, nullable=False)
    label: Mapped[str] = mapped_column(Text, nullable=False, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)


class ModelVariantRow(Base):
    __tablename__ = "model_variants"
    __table_args__ = (Index("ix_model_variants_fingerprint", "fingerprint"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True, nullable=False)
    source_type: Mapped[str] = mapped_column(String(16), nullable=False)
    location: Mapped[str] = mapped_column(Text, nullable=False)
    revision: Mapped[str | None] = mapped_column(Text, nullable=True)
    config_path: Mapped[str | None] = mapped_column(Text, nullable=True)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    default_dtype: Mapped[str | None] = mapped_column(String(16), nullable=True)
    fingerprint: Mapped[str | None] = mapped_column(String(64), nullable=True)
    components_json: Mapped[str] = mapped_column(Text, nullable=False, default="{}")
    size_bytes: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    allow_pickle: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)


class JobRow(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_status_position", "status", "position"),
        Index("ix_jobs_position", "position"),  # 0005: the next position without a scan
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_json: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="queued")
    position: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    error_type: Mapped[str | None] = mapped_column(Text, nullable=True)
    error_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), nullable=False)
    batch_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    out_dir: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # 0002: the queue
    worker: Mapped[str | None] = mapped_column(Text, nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    stem: Mapped[str | None] = mapped_column(Text, nullable=True)
    input_path: Mapped[str | None] = mapped_column(Text, nullable=True)
    # 0008: job kinds (request_json holds a TrainingSpec for a "train" job), a person's pause,
    # and the running job's last progress (step, loss, rate) for readers in other processes
    kind: Mapped[str] = mapped_column(
        String(16), nullable=False, default="generate", server_default="generate"
    )
    pause_requested: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default="0"
    )
    progress_json: Mapped[str | None] = mapped_column(Text, nullable=True)


class QueueStateRow(Base):
    """One row (id 1): the queue-wide paused flag, and the highest job id ever given (ids are
    not given again after finished jobs are cleared)."""

    __tablename__ = "queue_state"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    paused: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    last_job_id: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")


class BatchRow(Base):
    """A folder batch: which folder, which task and options, where outputs go, watched or not."""

    __tablename__ = "batches"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    input_dir: Mapped[str] = mapped_column(Text, nullable=False)
    pattern: Mapped[str] = mapped_column(Text, nullable=False)
    template_json: Mapped[str] = mapped_column(Text, nullable=False)
    masks_dir: Mapped[str | None] = mapped_column(Text, nullable=True)
    depth_dir: Mapped[str | None] = mapped_column(Text, nullable=True)
    prompt_from: Mapped[str | None] = mapped_column(String(16), nullable=True)
    out_dir: Mapped[str] = mapped_column(Text, nullable=False)
    project: Mapped[str] = mapped_column(String(200), nullable=False)
    watch: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)


class BatchFileRow(Base):
    """A file a batch has already turned into a job: each file once, across restarts."""

    __tablename__ = "batch_files"
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id"), primary_key=True)
    path: Mapped[str] = mapped_column(Text, primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    mtime_ns: Mapped[int] = mapped_column(BigInteger, nullable=False)
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)


class GridRow(Base):
    """An X/Y sweep: its axes, the job of each cell (row-major), and the grid image once made."""

    __tablename__ = "grids"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    spec_json: Mapped[str] = mapped_column(Text, nullable=False)
    job_ids_json: Mapped[str] = mapped_column(Text, nullable=False)
    project: Mapped[str] = mapped_column(String(200), nullable=False)
    out_dir: Mapped[str | None] = mapped_column(Text, nullable=True)
    out_path: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)


class RunRow(Base):
    __tablename__ = "runs"
    __table_args__ = (Index("ix_runs_project_id", "project_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id"), nullable=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), nullable=False)
    request_json: Mapped[str] = mapped_column(Text, nullable=False)
    request_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    environment_json: Mapped[str] = mapped_column(Text, nullable=False, default="{}")
    timings_json: Mapped[str] = mapped_column(Text, nullable=False, default="{}")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)


class OutputRow(Base):
    __tablename__ = "outputs"
    __table_args__ = (
        Index("ix_outputs_created_at", "created_at"),
        Index("ix_outputs_run_id", "run_id"),
        Index("ix_outputs_task_created", "task", "created_at"),
        Index("ix_outputs_model_created", "model", "created_at"),
        Index("ix_outputs_project_created", "project_id", "created_at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), nullable=False)
    asset_sha256: Mapped[str] = mapped_column(ForeignKey("assets.sha256"), nullable=False)
    path: Mapped[str] = mapped_column(Text, nullable=False)
    image_index: Mapped[int] = mapped_column(Integer, nullable=False)
    seed: Mapped[int] = mapped_column(BigInteger, nullable=False)
    pixel_sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    record_json: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)
    # 0004: copies of the run's task, model and project, for indexed history filters
    task: Mapped[str | None] = mapped_column(String(16), nullable=True)
    model: Mapped[str | None] = mapped_column(Text, nullable=True)
    project_id: Mapped[int | None] = mapped_column(Integer, nullable=True)


class OutputParentRow(Base):
    __tablename__ = "output_parents"
    __table_args__ = (Index("ix_output_parents_parent_id", "parent_id"),)
    output_id: Mapped[int] = mapped_column(ForeignKey("outputs.id"), primary_key=True)
    parent_id: Mapped[int] = mapped_column(ForeignKey("outputs.id"), primary_key=True)


class FileFingerprintRow(Base):
    __tablename__ = "file_fingerprints"
    path: Mapped[str] = mapped_column(Text, primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    mtime_ns: Mapped[int] = mapped_column(BigInteger, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)


class TrainingRunRow(Base):
    """0006: a finished training run and the variant it made (its whole record as JSON)."""

    __tablename__ = "training_runs"
    __table_args__ = (Index("ix_training_runs_variant", "variant_name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    spec_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    spec_json: Mapped[str] = mapped_column(Text, nullable=False)
    method: Mapped[str] = mapped_column(String(32), nullable=False)
    variant_name: Mapped[str] = mapped_column(String(200), nullable=False)
    variant_fingerprint: Mapped[str] = mapped_column(String(64), nullable=False)
    base_name: Mapped[str] = mapped_column(Text, nullable=False)
    base_fingerprint: Mapped[str] = mapped_column(String(64), nullable=False)
    record_json: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)
    job_id: Mapped[int | None] = mapped_column(Integer, nullable=True)  # 0008: the queued job
