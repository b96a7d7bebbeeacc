"""A job's id is never given to another job: the queue keeps the highest id it ever gave
(`queue_state.last_job_id`), so ids do not come back after finished jobs are cleared.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "queue_state",
        sa.Column("last_job_id", sa.Integer(), nullable=False, server_default="0"),
    )
    op.execute("INSERT OR IGNORE INTO queue_state (id, paused, last_job_id) VALUES (1, 0, 0)")
    op.execute(
        "UPDATE queue_state SET last_job_id = (SELECT coalesce(max(id), 0) FROM jobs) WHERE id = 1"
    )


def downgrade() -> None:
    with op.batch_alter_table("queue_state") as batch:
        batch.drop_column("last_job_id")
