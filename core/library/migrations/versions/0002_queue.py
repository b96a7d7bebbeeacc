"""The persistent queue: worker heartbeats and cancel requests on jobs, the paused flag,
folder batches and the files they have taken.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("jobs", sa.Column("worker", sa.Text(), nullable=True))
    op.add_column("jobs", sa.Column("heartbeat_at", sa.DateTime(), nullable=True))
    op.add_column(
        "jobs",
        sa.Column("cancel_requested", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column("jobs", sa.Column("stem", sa.Text(), nullable=True))
    op.add_column("jobs", sa.Column("input_path", sa.Text(), nullable=True))
    op.create_table(
        "queue_state",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("paused", sa.Boolean(), nullable=False),
    )
    op.create_table(
        "batches",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("input_dir", sa.Text(), nullable=False),
        sa.Column("pattern", sa.Text(), nullable=False),
        sa.Column("template_json", sa.Text(), nullable=False),
        sa.Column("masks_dir", sa.Text(), nullable=True),
        sa.Column("depth_dir", sa.Text(), nullable=True),
        sa.Column("prompt_from", sa.String(16), nullable=True),
        sa.Column("out_dir", sa.Text(), nullable=False),
        sa.Column("project", sa.String(200), nullable=False),
        sa.Column("watch", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "batch_files",
        sa.Column("batch_id", sa.Integer(), sa.ForeignKey("batches.id"), primary_key=True),
        sa.Column("path", sa.Text(), primary_key=True),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("mtime_ns", sa.BigInteger(), nullable=False),
        sa.Column("job_id", sa.Integer(), sa.ForeignKey("jobs.id"), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("batch_files")
    op.drop_table("batches")
    op.drop_table("queue_state")
    with op.batch_alter_table("jobs") as batch:
        for column in ("input_path", "stem", "cancel_requested", "heartbeat_at", "worker"):
            batch.drop_column(column)
