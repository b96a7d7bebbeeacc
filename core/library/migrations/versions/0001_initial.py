"""The initial library: projects, prompts (with FTS5), seeds, assets, masks, models, jobs, runs,
outputs with lineage, and the file hash cache.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _created() -> sa.Column:
    return sa.Column("created_at", sa.DateTime(), nullable=False)


def upgrade() -> None:
    op.create_table(
        "projects",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        _created(),
    )
    op.create_table(
        "prompts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("project_id", sa.Integer(), sa.ForeignKey("projects.id"), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("negative", sa.Text(), nullable=False),
        sa.Column("tags", sa.Text(), nullable=False),
        sa.Column("favourite", sa.Boolean(), nullable=False),
        _created(),
    )
    op.create_table(
        "seeds",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.Column("label", sa.Text(), nullable=False),
        _created(),
    )
    op.create_table(
        "assets",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("relpath", sa.Text(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("format", sa.String(16), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        _created(),
    )
    op.create_table(
        "masks",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("asset_sha256", sa.String(64), sa.ForeignKey("assets.sha256"), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("label", sa.Text(), nullable=False),
        _created(),
    )
    op.create_table(
        "model_variants",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("source_type", sa.String(16), nullable=False),
        sa.Column("location", sa.Text(), nullable=False),
        sa.Column("revision", sa.Text(), nullable=True),
        sa.Column("config_path", sa.Text(), nullable=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("default_dtype", sa.String(16), nullable=True),
        sa.Column("fingerprint", sa.String(64), nullable=True),
        sa.Column("components_json", sa.Text(), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("allow_pickle", sa.Boolean(), nullable=False),
        _created(),
    )
    op.create_index("ix_model_variants_fingerprint", "model_variants", ["fingerprint"])
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("request_json", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error_type", sa.Text(), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("project_id", sa.Integer(), sa.ForeignKey("projects.id"), nullable=False),
        sa.Column("batch_id", sa.String(64), nullable=True),
        sa.Column("out_dir", sa.Text(), nullable=True),
        _created(),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_jobs_status_position", "jobs", ["status", "position"])
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("job_id", sa.Integer(), sa.ForeignKey("jobs.id"), nullable=True),
        sa.Column("project_id", sa.Integer(), sa.ForeignKey("projects.id"), nullable=False),
        sa.Column("request_json", sa.Text(), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("environment_json", sa.Text(), nullable=False),
        sa.Column("timings_json", sa.Text(), nullable=False),
        _created(),
    )
    op.create_index("ix_runs_project_id", "runs", ["project_id"])
    op.create_table(
        "outputs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("run_id", sa.Integer(), sa.ForeignKey("runs.id"), nullable=False),
        sa.Column("asset_sha256", sa.String(64), sa.ForeignKey("assets.sha256"), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("image_index", sa.Integer(), nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("pixel_sha256", sa.String(64), nullable=False),
        sa.Column("record_json", sa.Text(), nullable=False),
        _created(),
    )
    op.create_index("ix_outputs_created_at", "outputs", ["created_at"])
    op.create_index("ix_outputs_run_id", "outputs", ["run_id"])
    op.create_table(
        "output_parents",
        sa.Column("output_id", sa.Integer(), sa.ForeignKey("outputs.id"), primary_key=True),
        sa.Column("parent_id", sa.Integer(), sa.ForeignKey("outputs.id"), primary_key=True),
    )
    op.create_index("ix_output_parents_parent_id", "output_parents", ["parent_id"])
    op.create_table(
        "file_fingerprints",
        sa.Column("path", sa.Text(), primary_key=True),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("mtime_ns", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
    )
    _create_prompt_search()


def _create_prompt_search() -> None:
    """FTS5 over prompt text and negative text, kept in step with `prompts` by triggers."""
    op.execute(
        "CREATE VIRTUAL TABLE prompts_fts USING fts5("
        "text, negative, content='prompts', content_rowid='id')"
    )
    op.execute(
        "CREATE TRIGGER prompts_fts_insert AFTER INSERT ON prompts BEGIN "
        "INSERT INTO prompts_fts(rowid, text, negative) VALUES (new.id, new.text, new.negative); "
        "END"
    )
    op.execute(
        "CREATE TRIGGER prompts_fts_delete AFTER DELETE ON prompts BEGIN "
        "INSERT INTO prompts_fts(prompts_fts, rowid, text, negative) "
        "VALUES ('delete', old.id, old.text, old.negative); "
        "END"
    )
    op.execute(
        "CREATE TRIGGER prompts_fts_update AFTER UPDATE ON prompts BEGIN "
        "INSERT INTO prompts_fts(prompts_fts, rowid, text, negative) "
        "VALUES ('delete', old.id, old.text, old.negative); "
        "INSERT INTO prompts_fts(rowid, text, negative) VALUES (new.id, new.text, new.negative); "
        "END"
    )


def downgrade() -> None:
    for trigger in ("prompts_fts_update", "prompts_fts_delete", "prompts_fts_insert"):
        op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    op.execute("DROP TABLE IF EXISTS prompts_fts")
    for table in (
        "file_fingerprints",
        "output_parents",
        "outputs",
        "runs",
        "jobs",
        "model_variants",
        "masks",
        "assets",
        "seeds",
        "prompts",
        "projects",
    ):
        op.drop_table(table)
