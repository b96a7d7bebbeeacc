"""Job kinds: a job either makes images (a GenerationRequest) or trains a variant (a
TrainingSpec, in the same `request_json` column); a person can pause a job; a running job's
last progress is kept for readers in other processes; a training run names the job that ran it.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "jobs", sa.Column("kind", sa.String(16), nullable=False, server_default="generate")
    )
    op.add_column(
        "jobs",
        sa.Column("pause_requested", sa.Boolean(), nullable=False, server_default="0"),
    )
    op.add_column("jobs", sa.Column("progress_json", sa.Text(), nullable=True))
    op.add_column("training_runs", sa.Column("job_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("training_runs") as batch:
        batch.drop_column("job_id")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("progress_json")
        batch.drop_column("pause_requested")
        batch.drop_column("kind")
