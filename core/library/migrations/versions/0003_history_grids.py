"""Full-text search over the prompts of every output, and X/Y grids.

`outputs_fts` (FTS5) holds each output's prompt and negative prompt, read from its record by
triggers; existing outputs are indexed here. `grids` remembers a sweep's axes and cell jobs.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_PROMPT = "json_extract({row}.record_json, '$.request.prompt')"
_NEGATIVE = "json_extract({row}.record_json, '$.request.negative_prompt')"


def upgrade() -> None:
    op.create_table(
        "grids",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("spec_json", sa.Text(), nullable=False),
        sa.Column("job_ids_json", sa.Text(), nullable=False),
        sa.Column("project", sa.String(200), nullable=False),
        sa.Column("out_dir", sa.Text(), nullable=True),
        sa.Column("out_path", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.execute(
        "CREATE VIRTUAL TABLE outputs_fts USING fts5(prompt, negative, tokenize='unicode61')"
    )
    new_p, new_n = _PROMPT.format(row="new"), _NEGATIVE.format(row="new")
    op.execute(
        "CREATE TRIGGER outputs_fts_insert AFTER INSERT ON outputs BEGIN "
        f"INSERT INTO outputs_fts(rowid, prompt, negative) VALUES (new.id, {new_p}, {new_n}); "
        "END"
    )
    op.execute(
        "CREATE TRIGGER outputs_fts_delete AFTER DELETE ON outputs BEGIN "
        "DELETE FROM outputs_fts WHERE rowid = old.id; "
        "END"
    )
    op.execute(
        "INSERT INTO outputs_fts(rowid, prompt, negative) "
        f"SELECT id, {_PROMPT.format(row='outputs')}, {_NEGATIVE.format(row='outputs')} "
        "FROM outputs"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS outputs_fts_delete")
    op.execute("DROP TRIGGER IF EXISTS outputs_fts_insert")
    op.execute("DROP TABLE IF EXISTS outputs_fts")
    op.drop_table("grids")
