from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, Integer, MetaData, Table, text

from core.errors import AtelierError
from core.library import Library, default_home
from core.library.database import MIGRATIONS_DIR, SHIPPED_HEAD, head_revision, open_database
from core.library.schema import Base, is_managed_table


def _schema_diffs(db_path: Path, metadata: MetaData) -> list[object]:
    db = open_database(db_path)
    try:
        with db.engine.connect() as conn:
            context = MigrationContext.configure(
                conn,
                opts={
                    "compare_type": True,
                    "include_name": lambda name, type_, _: (
                        type_ != "table" or is_managed_table(name)
                    ),
                },
            )
            return list(compare_metadata(context, metadata))
    finally:
        db.close()


def test_migrating_an_empty_database_gives_exactly_the_orm_schema(tmp_path: Path) -> None:
    assert _schema_diffs(tmp_path / "lib.sqlite", Base.metadata) == []


def test_the_schema_comparison_notices_a_missing_column(tmp_path: Path) -> None:
    extended = MetaData()
    for table in Base.metadata.tables.values():
        table.to_metadata(extended)
    Table("projects", extended, Column("colour", Integer), extend_existing=True)
    diffs = _schema_diffs(tmp_path / "lib.sqlite", extended)
    assert any(d[0] == "add_column" and d[3].name == "colour" for d in diffs)  # type: ignore[index]


def test_database_uses_wal_foreign_keys_and_is_stamped_at_head(tmp_path: Path) -> None:
    db = open_database(tmp_path / "deep" / "folder" / "lib.sqlite")
    try:
        with db.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
            version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
            assert version == head_revision()
    finally:
        db.close()


def test_a_library_at_head_opens_without_loading_alembic(tmp_path: Path) -> None:
    import subprocess
    import sys

    assert head_revision() == SHIPPED_HEAD  # a new migration must move SHIPPED_HEAD too
    open_database(tmp_path / "lib.sqlite").close()
    script = (
        "import sys; from core.library.database import open_database; "
        f"open_database({str(tmp_path / 'lib.sqlite')!r}).close(); "
        "print('alembic' in sys.modules)"
    )
    reopened = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert reopened.stdout.strip() == "False", reopened.stderr
    fresh = script.replace("lib.sqlite", "new.sqlite")  # a new file still gets migrated
    created = subprocess.run([sys.executable, "-c", fresh], capture_output=True, text=True)
    assert created.stdout.strip() == "True", created.stderr


def test_a_new_database_is_not_backed_up_and_reopening_makes_no_backup(tmp_path: Path) -> None:
    open_database(tmp_path / "lib.sqlite").close()
    open_database(tmp_path / "lib.sqlite").close()
    assert not (tmp_path / "backups").exists()


def test_a_legacy_unversioned_database_is_backed_up_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "library.sqlite"
    with sqlite3.connect(path) as legacy:
        legacy.execute("CREATE TABLE notes (body TEXT)")
        legacy.execute("INSERT INTO notes VALUES ('keep me')")
    legacy.close()

    with Library.open(tmp_path) as lib:
        assert lib.projects.get_or_create("after").name == "after"

    backups = list((tmp_path / "backups").glob("library-*-unversioned.sqlite"))
    assert len(backups) == 1
    for copy in (path, backups[0]):
        with sqlite3.connect(copy) as conn:
            assert conn.execute("SELECT body FROM notes").fetchall() == [("keep me",)]
        conn.close()


def _migrations_with_extra_revision(tmp_path: Path) -> Path:
    folder = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, folder, ignore=shutil.ignore_patterns("__pycache__"))
    (folder / "versions" / "9999_colour.py").write_text(
        f'revision = "9999"\ndown_revision = "{head_revision()}"\n'
        "branch_labels = None\ndepends_on = None\n"
        "import sqlalchemy as sa\nfrom alembic import op\n\n"
        "def upgrade():\n"
        '    op.add_column("projects", sa.Column("colour", sa.Text(), nullable=True))\n'
    )
    return folder


def test_an_older_revision_is_backed_up_before_upgrading(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with Library.open(home) as lib:
        lib.projects.get_or_create("portraits")

    db = open_database(
        home / "library.sqlite", migrations_dir=_migrations_with_extra_revision(tmp_path)
    )
    try:
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT name, colour FROM projects")).all() == [
                ("portraits", None)
            ]
    finally:
        db.close()

    backups = list((home / "backups").glob(f"library-*-{head_revision()}.sqlite"))
    assert len(backups) == 1
    with sqlite3.connect(backups[0]) as conn:
        assert conn.execute("SELECT name FROM projects").fetchall() == [("portraits",)]
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [
            (head_revision(),)
        ]
    conn.close()


def test_a_failed_upgrade_leaves_the_database_unchanged_and_says_where_the_copy_is(
    tmp_path: Path,
) -> None:
    path = tmp_path / "lib.sqlite"
    with sqlite3.connect(path) as foreign:
        foreign.execute("CREATE TABLE projects (whatever TEXT)")  # clashes with our table
        foreign.execute("INSERT INTO projects VALUES ('theirs')")
    foreign.close()

    with pytest.raises(AtelierError, match="backups"):
        open_database(path)

    with sqlite3.connect(path) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert tables == {"projects"}
        assert conn.execute("SELECT whatever FROM projects").fetchall() == [("theirs",)]
    conn.close()


def test_a_database_from_a_newer_atelier_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    path = tmp_path / "lib.sqlite"
    open_database(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    conn.close()
    with pytest.raises(AtelierError, match="newer Atelier"):
        open_database(path)


def test_the_library_home_comes_from_atelier_home_when_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ATELIER_HOME", str(tmp_path / "custom"))
    assert default_home() == tmp_path / "custom"
    monkeypatch.delenv("ATELIER_HOME")
    assert default_home().name.lower() == "atelier"

    with Library.open(tmp_path / "custom") as lib:
        assert lib.db.path == (tmp_path / "custom" / "library.sqlite").resolve()
        assert lib.store.root == tmp_path / "custom" / "store"


def _library_at(home: Path, revision: str, *statements: str) -> Path:
    """A library left at an older `revision`, holding the rows `statements` insert, and an
    'old' project (id 1)."""
    from alembic import command

    from core.library.database import create_library_engine, migration_config

    home.mkdir()
    engine = create_library_engine(home / "library.sqlite")
    config = migration_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
        conn.exec_driver_sql(
            "INSERT INTO projects (id, name, created_at) VALUES (1, 'old', '2026-01-01')"
        )
        for statement in statements:
            conn.exec_driver_sql(statement)
    engine.dispose()
    return home


def test_outputs_made_before_0004_get_their_task_model_and_project(tmp_path: Path) -> None:
    """The 0004 backfill: an output recorded at 0003 is found by the new indexed filters."""
    home = _library_at(
        tmp_path / "home",
        "0003",
        "INSERT INTO runs (id, project_id, request_json, request_hash, environment_json, "
        'timings_json, created_at) VALUES (1, 1, \'{"task": "img2img", "model": "m"}\', '
        "'h', '{}', '{}', '2026-01-01')",
        "INSERT INTO assets (sha256, relpath, size, format, role, created_at) "
        "VALUES ('a', 'a.png', 1, 'png', 'output', '2026-01-01')",
        "INSERT INTO outputs (id, run_id, asset_sha256, path, image_index, seed, pixel_sha256, "
        "record_json, created_at) VALUES (1, 1, 'a', 'a.png', 0, 1, 'p', "
        '\'{"request": {"prompt": "an old lighthouse"}}\', \'2026-01-01\')',
    )
    from core.library.history import History, HistoryFilter

    with Library.open(home) as lib:
        history = History(lib.db.session_factory)
        flt = HistoryFilter(text="lighthouse", task="img2img", model="m", project="old")
        assert [o.id for o in history.search(flt)] == [1]
        assert history.count(HistoryFilter(task="text2img")) == 0


def test_a_0004_queue_gets_the_position_index_and_new_jobs_go_last(tmp_path: Path) -> None:
    """0005: the next position is read from `ix_jobs_position` (it scanned every job the queue
    kept: 5.9 ms an add with 100,000 finished jobs), and jobs made before still come first."""
    from core.queue.jobs import _NEXT_POSITION, JobRepository, NewJob
    from core.request import GenerationRequest

    home = _library_at(
        tmp_path / "home",
        "0004",
        "INSERT INTO jobs (id, request_json, status, position, attempts, project_id, "
        "created_at, cancel_requested) VALUES (7, "
        '\'{"task": "text2img", "model": "demo:sd"}\', \'queued\', 41, 0, 1, '
        "'2026-01-01', 0)",
    )
    with Library.open(home) as lib:
        assert list((home / "backups").glob("library-*-0004.sqlite"))
        jobs = JobRepository(lib.db.session_factory)
        new = jobs.add(NewJob(GenerationRequest(task="text2img", model="demo:sd")))
        assert new.position == 42
        assert [j.id for j in jobs.list(("queued",))] == [7, new.id]
        with lib.db.engine.connect() as conn:
            sql = str(_NEXT_POSITION.compile(conn, compile_kwargs={"literal_binds": True}))
            plan = " ".join(str(r[-1]) for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))
        assert "ix_jobs_position" in plan, plan
