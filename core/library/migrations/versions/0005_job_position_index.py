"""Jobs get an index on their position, so adding a job (which goes after the last position)
reads one index entry instead of every job the queue has kept: with 100,000 finished jobs an
add took 5.9 ms, against 0.4 ms on an empty queue.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_jobs_position", "jobs", ["position"])


def downgrade() -> None:
    op.drop_index("ix_jobs_position", "jobs")
