"""Training runs: each trained LoRA, embedding or DreamBooth folder keeps the run that made it
(spec, base model fingerprint, instance image hashes and crops, versions, device).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "training_runs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("spec_hash", sa.String(64), nullable=False),
        sa.Column("spec_json", sa.Text(), nullable=False),
        sa.Column("method", sa.String(32), nullable=False),
        sa.Column("variant_name", sa.String(200), nullable=False),
        sa.Column("variant_fingerprint", sa.String(64), nullable=False),
        sa.Column("base_name", sa.Text(), nullable=False),
        sa.Column("base_fingerprint", sa.String(64), nullable=False),
        sa.Column("record_json", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_training_runs_variant", "training_runs", ["variant_name"])


def downgrade() -> None:
    op.drop_index("ix_training_runs_variant", "training_runs")
    op.drop_table("training_runs")
