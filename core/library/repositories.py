"""Repositories: each takes a session factory and hands back frozen values from `entities`.

Writes run in one `BEGIN IMMEDIATE` transaction per call; reads use deferred transactions.
Recording runs and reading outputs lives in `core.library.runs`.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Row, bindparam, delete, func, select, text
from sqlalchemy.dialects.sqlite import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from core.errors import BadInput, ModelError
from core.library.database import read_session
from core.library.entities import Asset, Mask, ModelVariant, Project, Prompt, Seed
from core.library.runs import RunRepository
from core.library.schema import (
    ASSET_ROLES,
    SOURCE_TYPES,
    AssetRow,
    FileFingerprintRow,
    MaskRow,
    ModelVariantRow,
    ProjectRow,
    PromptRow,
    SeedRow,
)

Sessions = sessionmaker[Session]

__all__ = [
    "AssetRepository",
    "FileHashRepository",
    "MaskRepository",
    "ModelVariantRepository",
    "ProjectRepository",
    "PromptRepository",
    "RunRepository",
    "SeedRepository",
]


# Read on every job: built once, so SQLAlchemy does not compile them again per call.
_PROJECT_BY_NAME = select(*ProjectRow.__table__.c).where(ProjectRow.name == bindparam("name"))
_VARIANT_BY_NAME = select(*ModelVariantRow.__table__.c).where(
    ModelVariantRow.name == bindparam("name")
)


def _project(row: ProjectRow | Row[Any]) -> Project:
    return Project(row.id, row.name, row.created_at)


class ProjectRepository:
    def __init__(self, sessions: Sessions) -> None:
        self._sessions = sessions

    def get_or_create(self, name: str) -> Project:
        name = name.strip()
        if not name:
            raise BadInput("project", "a project needs a name")
        found = self.get(name)
        if found is not None:
            return found
        with self._sessions.begin() as s:
            row = s.scalar(select(ProjectRow).where(ProjectRow.name == name))
            if row is None:
                row = ProjectRow(name=name)
                s.add(row)
                s.flush()
            return _project(row)

    def get(self, name: str) -> Project | None:
        with read_session(self._sessions) as s:
            row = s.connection().execute(_PROJECT_BY_NAME, {"name": name}).first()
            return None if row is None else _project(row)

    def list(self) -> builtins.list[Project]:
        with read_session(self._sessions) as s:
            return [_project(r) for r in s.scalars(select(ProjectRow).order_by(ProjectRow.name))]


def _variant(row: ModelVariantRow | Row[Any]) -> ModelVariant:
    return ModelVariant(
        id=row.id,
        name=row.name,
        source_type=row.source_type,
        location=row.location,
        kind=row.kind,
        revision=row.revision,
        config_path=row.config_path,
        default_dtype=row.default_dtype,
        fingerprint=row.fingerprint,
        components=dict(json.loads(row.components_json)),
        size_bytes=row.size_bytes,
        allow_pickle=row.allow_pickle,
        created_at=row.created_at,
    )


class ModelVariantRepository:
    def __init__(self, sessions: Sessions) -> None:
        self._sessions = sessions

    def add(
        self,
        name: str,
        source_type: str,
        location: str,
        kind: str,
        *,
        revision: str | None = None,
        config_path: str | None = None,
        default_dtype: str | None = None,
        fingerprint: str | None = None,
        components: Mapping[str, str] | None = None,
        size_bytes: int = 0,
        allow_pickle: bool = False,
    ) -> ModelVariant:
        if source_type not in SOURCE_TYPES:
            raise BadInput("source_type", f"expected one of {', '.join(SOURCE_TYPES)}")
        duplicate = BadInput("name", f"a model named {name!r} is already in the library")
        with self._sessions.begin() as s:
            if s.scalar(select(ModelVariantRow.id).where(ModelVariantRow.name == name)):
                raise duplicate
            row = ModelVariantRow(
                name=name,
                source_type=source_type,
                location=location,
                kind=kind,
                revision=revision,
                config_path=config_path,
                default_dtype=default_dtype,
                fingerprint=fingerprint,
                components_json=json.dumps(dict(components or {}), sort_keys=True),
                size_bytes=size_bytes,
                allow_pickle=allow_pickle,
            )
            s.add(row)
            try:
                s.flush()
            except IntegrityError as exc:
                raise duplicate from exc
            return _variant(row)

    def get(self, name: str) -> ModelVariant | None:
        with read_session(self._sessions) as s:
            row = s.connection().execute(_VARIANT_BY_NAME, {"name": name}).first()
            return None if row is None else _variant(row)

    def list(self) -> builtins.list[ModelVariant]:
        query = select(ModelVariantRow).order_by(ModelVariantRow.name)
        with read_session(self._sessions) as s:
            return [_variant(r) for r in s.scalars(query)]

    def remove(self, name: str) -> bool:
        with self._sessions.begin() as s:
            result = s.execute(delete(ModelVariantRow).where(ModelVariantRow.name == name))
            return bool(getattr(result, "rowcount", 0))

    def find_by_fingerprint(self, fingerprint: str) -> builtins.list[ModelVariant]:
        query = select(ModelVariantRow).where(ModelVariantRow.fingerprint == fingerprint)
        with read_session(self._sessions) as s:
            return [_variant(r) for r in s.scalars(query.order_by(ModelVariantRow.name))]

    def update_fingerprint(
        self, name: str, fingerprint: str, components: Mapping[str, str], size_bytes: int
    ) -> ModelVariant:
        with self._sessions.begin() as s:
            row = self._require(s, name)
            row.fingerprint = fingerprint
            row.components_json = json.dumps(dict(components), sort_keys=True)
            row.size_bytes = size_bytes
            s.flush()
            return _variant(row)

    def update_location(self, name: str, location: str) -> ModelVariant:
        with self._sessions.begin() as s:
            row = self._require(s, name)
            row.location = location
            s.flush()
            return _variant(row)

    @staticmethod
    def _require(s: Session, name: str) -> ModelVariantRow:
        row = s.scalar(select(ModelVariantRow).where(ModelVariantRow.name == name))
        if row is None:
            raise ModelError(f"no model named {name!r} in the library")
        return row


def _asset(row: AssetRow) -> Asset:
    return Asset(
        row.sha256, row.relpath, row.size, row.format, row.role, row.width, row.height,
        row.created_at,
    )  # fmt: skip


class AssetRepository:
    def __init__(self, sessions: Sessions) -> None:
        self._sessions = sessions

    def add(
        self,
        sha256: str,
        relpath: str,
        size: int,
        format: str,
        role: str,
        width: int | None = None,
        height: int | None = None,
    ) -> Asset:
        """Register a stored file; adding the same sha256 again returns the existing asset."""
        if role not in ASSET_ROLES:
            raise BadInput("role", f"expected one of {', '.join(ASSET_ROLES)}")
        with self._sessions.begin() as s:
            row = s.get(AssetRow, sha256)
            if row is None:
                row = AssetRow(
                    sha256=sha256, relpath=relpath, size=size, format=format, role=role,
                    width=width, height=height,
                )  # fmt: skip
                s.add(row)
                s.flush()
            return _asset(row)

    def get(self, sha256: str) -> Asset | None:
        with read_session(self._sessions) as s:
            row = s.get(AssetRow, sha256)
            return None if row is None else _asset(row)


class FileHashRepository:
    """The sha256 of files by (path, size, mtime): the fingerprint cache of `core.models`."""

    def __init__(self, sessions: Sessions) -> None:
        self._sessions = sessions

    def get(self, path: str, size: int, mtime_ns: int) -> str | None:
        with read_session(self._sessions) as s:
            row = s.get(FileFingerprintRow, path)
            if row is None or row.size != size or row.mtime_ns != mtime_ns:
                return None
            return row.sha256

    def put(self, path: str, size: int, mtime_ns: int, sha256: str) -> None:
        values = {"path": path, "size": size, "mtime_ns": mtime_ns, "sha256": sha256}
        upsert = insert(FileFingerprintRow).values(values)
        upsert = upsert.on_conflict_do_update(
            index_elements=[FileFingerprintRow.path],
            set_={"size": size, "mtime_ns": mtime_ns, "sha256": sha256},
        )
        with self._sessions.begin() as s:
            s.execute(upsert)


def _prompt(row: PromptRow) -> Prompt:
    tags = tuple(str(t) for t in json.loads(row.tags))
    return Prompt(
        row.id, row.project_id, row.text, row.negative, tags, row.favourite, row.created_at
    )


def fts_query(query: str) -> str:
    """Each word as a quoted prefix term, so user text never reads as FTS5 syntax."""
    words = query.split()
    return " ".join('"' + w.replace('"', '""') + '"*' for w in words)


class PromptRepository:
    def __init__(self, sessions: Sessions) -> None:
        self._sessions = sessions

    def add(
        self,
        text: str,
        negative: str = "",
        tags: tuple[str, ...] | builtins.list[str] = (),
        favourite: bool = False,
        project_id: int | None = None,
    ) -> Prompt:
        row = PromptRow(
            text=text, negative=negative, tags=json.dumps(list(tags)), favourite=favourite,
            project_id=project_id,
        )  # fmt: skip
        with self._sessions.begin() as s:
            s.add(row)
            s.flush()
            return _prompt(row)

    def list(
        self, offset: int = 0, limit: int = 50, favourites_only: bool = False
    ) -> builtins.list[Prompt]:
        query = select(PromptRow).order_by(PromptRow.id.desc()).offset(offset).limit(limit)
        if favourites_only:
            query = query.where(PromptRow.favourite.is_(True))
        with read_session(self._sessions) as s:
            return [_prompt(r) for r in s.scalars(query)]

    def search(self, query: str, limit: int = 50) -> builtins.list[Prompt]:
        """Prompts whose text or negative text has every word of `query` (prefixes match)."""
        match = fts_query(query)
        if not match:
            return []
        sql = text(
            "SELECT rowid FROM prompts_fts WHERE prompts_fts MATCH :q ORDER BY rank LIMIT :n"
        )
        with read_session(self._sessions) as s:
            ids = [int(i) for i in s.scalars(sql, {"q": match, "n": limit})]
            rows = {r.id: r for r in s.scalars(select(PromptRow).where(PromptRow.id.in_(ids)))}
            return [_prompt(rows[i]) for i in ids if i in rows]

    def set_favourite(self, prompt_id: int, favourite: bool) -> bool:
        with self._sessions.begin() as s:
            row = s.get(PromptRow, prompt_id)
            if row is None:
                return False
            row.favourite = favourite
            return True

    def remove(self, prompt_id: int) -> bool:
        with self._sessions.begin() as s:
            result = s.execute(delete(PromptRow).where(PromptRow.id == prompt_id))
            return bool(getattr(result, "rowcount", 0))

    def count(self) -> int:
        with read_session(self._sessions) as s:
            return int(s.scalar(select(func.count()).select_from(PromptRow)) or 0)


class SeedRepository:
    def __init__(self, sessions: Sessions) -> None:
        self._sessions = sessions

    def add(self, value: int, label: str = "") -> Seed:
        with self._sessions.begin() as s:
            row = SeedRow(value=value, label=label)
            s.add(row)
            s.flush()
            return Seed(row.id, row.value, row.label, row.created_at)

    def list(self, offset: int = 0, limit: int = 50) -> builtins.list[Seed]:
        query = select(SeedRow).order_by(SeedRow.id.desc()).offset(offset).limit(limit)
        with read_session(self._sessions) as s:
            return [Seed(r.id, r.value, r.label, r.created_at) for r in s.scalars(query)]

    def remove(self, seed_id: int) -> bool:
        with self._sessions.begin() as s:
            result = s.execute(delete(SeedRow).where(SeedRow.id == seed_id))
            return bool(getattr(result, "rowcount", 0))


def _mask(r: MaskRow) -> Mask:
    return Mask(r.id, r.asset_sha256, r.width, r.height, r.label, r.created_at)


class MaskRepository:
    def __init__(self, sessions: Sessions) -> None:
        self._sessions = sessions

    def add(self, asset_sha256: str, width: int, height: int, label: str = "") -> Mask:
        """A mask over an image asset already registered with `AssetRepository.add`."""
        with self._sessions.begin() as s:
            if s.get(AssetRow, asset_sha256) is None:
                raise BadInput("mask", f"no asset {asset_sha256} in the library")
            row = MaskRow(asset_sha256=asset_sha256, width=width, height=height, label=label)
            s.add(row)
            s.flush()
            return _mask(row)

    def list(self, offset: int = 0, limit: int = 50) -> builtins.list[Mask]:
        query = select(MaskRow).order_by(MaskRow.id.desc()).offset(offset).limit(limit)
        with read_session(self._sessions) as s:
            return [_mask(r) for r in s.scalars(query)]

    def remove(self, mask_id: int) -> bool:
        with self._sessions.begin() as s:
            result = s.execute(delete(MaskRow).where(MaskRow.id == mask_id))
            return bool(getattr(result, "rowcount", 0))
