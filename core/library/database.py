"""Opening the library database: SQLite in WAL mode, migrated to head with a backup first.

Every write transaction starts with `BEGIN IMMEDIATE`, so writers from several processes (GUI,
CLI workers) queue on SQLite's busy timeout instead of failing with "database is locked".
Reads go through `read_session`, which starts a plain deferred `BEGIN` and so never waits on a
writer (WAL lets readers and one writer work side by side).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from core.errors import AtelierError
from core.library.schema import is_managed_table

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# The newest revision in migrations/versions (a test keeps the two equal). A library already
# there opens without importing Alembic: 10 MB and a tenth of a second less in every process.
SHIPPED_HEAD = "0008"
BUSY_TIMEOUT_MS = 30_000
_DEFERRED = "atelier_deferred_begin"


@dataclass(frozen=True)
class Database:
    """An open library database: its file, engine and session factory (writes: BEGIN IMMEDIATE)."""

    path: Path
    engine: Engine
    session_factory: sessionmaker[Session]

    def close(self) -> None:
        self.engine.dispose()


def open_database(path: Path, *, migrations_dir: Path | None = None) -> Database:
    """Open (creating if needed) the database at `path` and migrate it to the newest revision.

    An existing database that is behind is first copied to `<dir>/backups/`.
    `migrations_dir` replaces the shipped migrations (tests use it to add a revision).
    """
    path = Path(path).expanduser().resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_library_engine(path)
    try:
        if migrations_dir is not None or _stored_revision(engine) != SHIPPED_HEAD:
            migrate_to_head(engine, path, migration_config(migrations_dir))
    except BaseException:
        engine.dispose()
        raise
    return Database(path, engine, sessionmaker(bind=engine, expire_on_commit=False))


def create_library_engine(path: Path) -> Engine:
    """An engine whose connections use WAL, foreign keys, a long busy timeout, explicit BEGINs."""
    url = URL.create("sqlite", database=str(path))
    engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event, not pysqlite, decide when transactions start.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        _enable_wal(cursor)
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        deferred = conn.get_execution_options().get(_DEFERRED, False)
        conn.exec_driver_sql("BEGIN" if deferred else "BEGIN IMMEDIATE")

    return engine


def _enable_wal(cursor: sqlite3.Cursor) -> None:
    """Switch the file to WAL (kept in the file, so usually already on).

    Switching needs a moment alone with a new database; when another process is creating it at
    the same instant, SQLite answers "locked" at once instead of waiting, so retry a while.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@contextmanager
def read_session(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session for reading only: its transaction is deferred and never blocks on writers."""
    with factory() as session:
        session.connection(execution_options={_DEFERRED: True})
        yield session


def _stored_revision(engine: Engine) -> str | None:
    """The revision the file is at, read without Alembic; None for a new or unversioned file."""
    with engine.connect().execution_options(**{_DEFERRED: True}) as conn, conn.begin():
        try:
            rows = conn.execute(text("SELECT version_num FROM alembic_version")).all()
        except OperationalError:  # no such table
            return None
    return str(rows[0][0]) if len(rows) == 1 else None


def migration_config(migrations_dir: Path | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(migrations_dir or MIGRATIONS_DIR))
    return config


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(migration_config()).get_current_head()
    assert head is not None
    return head


def current_revision(conn: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(conn).get_current_revision()


def migrate_to_head(engine: Engine, path: Path, config: Config | None = None) -> None:
    """Bring the database to head; safe when several processes open it at once.

    The check and the upgrade run in one `BEGIN IMMEDIATE` transaction (SQLite DDL is
    transactional), so a second process waits, then finds the database already at head.
    """
    from alembic import command
    from alembic.script import ScriptDirectory

    config = config or migration_config()
    script = ScriptDirectory.from_config(config)
    head = script.get_current_head()
    with engine.connect().execution_options(**{_DEFERRED: True}) as conn, conn.begin():
        if current_revision(conn) == head:
            return
    with engine.connect() as conn, conn.begin():
        current = current_revision(conn)
        if current == head:
            return
        if current is not None and current not in {s.revision for s in script.walk_revisions()}:
            raise AtelierError(
                f"{path}: the library was written by a newer Atelier (revision {current}); "
                "update Atelier to open it"
            )
        label = current or "unversioned"
        backup = None
        if any(is_managed_table(name) for name in inspect(conn).get_table_names()):
            backup = backup_database(path, label)
        config.attributes["connection"] = conn
        try:
            command.upgrade(config, "head")
        except Exception as exc:
            kept = f"; a copy from before the attempt is at {backup}" if backup else ""
            raise AtelierError(
                f"{path}: updating the library from revision {label} failed ({exc}); "
                f"it was left unchanged{kept}"
            ) from exc


def backup_database(path: Path, label: str) -> Path:
    """Copy the database with SQLite's online backup API to `<dir>/backups/`; returns the copy.

    It reads through its own connection: a backup from a connection inside a write
    transaction never finishes, and WAL lets this reader see the last committed state.
    """
    backups = path.parent / "backups"
    backups.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    target = backups / f"library-{stamp}-{label}.sqlite"
    counter = 1
    while target.exists():
        counter += 1
        target = backups / f"library-{stamp}-{label}-{counter}.sqlite"
    source = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000)
    destination = sqlite3.connect(target)
    try:
        source.backup(destination)
    finally:
        destination.close()
        source.close()
    return target
