"""Alembic environment: migrates the connection `core.library.database` hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from core.library.schema import Base, is_managed_table

config = context.config


def _include_name(name: str | None, type_: str, parent_names: object) -> bool:
    return type_ != "table" or is_managed_table(name)


def _run(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=Base.metadata,
        include_name=_include_name,
        render_as_batch=True,
        transactional_ddl=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:  # pragma: no cover - only for the `alembic` command line during development
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.begin() as conn:
        _run(conn)
