"""The content-addressed file store: every file lives at `root/ab/cd/<sha256>.<ext>`.

Writes go to a temporary name (`*.tmp-<pid>-<random>`) on the same file system, are fsynced and
then renamed into place, so a crash leaves either the whole file or a temporary that
`clean_temporaries` removes later.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from core.errors import BadInput
from core.library.durable import StagedFile, write_durably
from core.processes import process_alive

CHUNK = 1 << 20
TEMP_MARKER = ".tmp-"
# A temporary whose writer cannot be checked is treated as abandoned after this long.
STALE_TEMP_SECONDS = 24 * 3600.0


@dataclass(frozen=True)
class StoredFile:
    sha256: str
    path: Path
    size: int


def normalise_ext(ext: str) -> str:
    clean = ext.lower().lstrip(".")
    if not clean or not clean.isalnum():
        raise BadInput("ext", f"expected a file extension such as 'png', got {ext!r}")
    return clean


class ContentStore:
    """Files named by the sha256 of their bytes under one root folder."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def path_for(self, sha256: str, ext: str) -> Path:
        sha = sha256.lower()
        if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
            raise BadInput("sha256", f"expected 64 hex digits, got {sha256!r}")
        return self.root / sha[:2] / sha[2:4] / f"{sha}.{normalise_ext(ext)}"

    def relpath_for(self, sha256: str, ext: str) -> str:
        """The path inside the store, with forward slashes (what the assets table keeps)."""
        return self.path_for(sha256, ext).relative_to(self.root).as_posix()

    def exists(self, sha256: str, ext: str) -> bool:
        return self.path_for(sha256, ext).is_file()

    def put_bytes(self, data: bytes, ext: str) -> StoredFile:
        return self.put_many([data], ext)[0]

    def put_many(self, datas: Sequence[bytes], ext: str) -> list[StoredFile]:
        """Store each of `datas` (as `put_bytes` does), their fsyncs issued together; every new
        file is on disk under its name when this returns."""
        stored: list[StoredFile] = []
        staged: dict[Path, StagedFile] = {}
        for data in datas:
            sha = hashlib.sha256(data).hexdigest()
            target = self.path_for(sha, ext)
            stored.append(StoredFile(sha, target, len(data)))
            if target not in staged and not target.is_file():  # its folder is made then
                staged[target] = StagedFile(self._temp_name(target.parent), target, data)
        write_durably(list(staged.values()))
        return stored

    def put_file(self, src: Path, ext: str | None = None) -> StoredFile:
        """Copy `src` into the store, hashing while streaming; `ext` defaults to its suffix."""
        src = Path(src)
        ext = normalise_ext(ext if ext is not None else src.suffix)
        if not src.is_file():
            raise BadInput("path", f"{src}: no such file")
        temp = self._temp_name(self.root)
        digest = hashlib.sha256()
        size = 0
        try:
            with open(src, "rb") as inp, open(temp, "wb") as out:
                while chunk := inp.read(CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
                out.flush()
                os.fsync(out.fileno())
            sha = digest.hexdigest()
            target = self.path_for(sha, ext)
            if not target.is_file():
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(temp, target)
        finally:
            temp.unlink(missing_ok=True)
        return StoredFile(sha, target, size)

    def clean_temporaries(self, max_age_s: float = STALE_TEMP_SECONDS) -> int:
        """Remove temporaries left by crashed writers; returns how many were removed."""
        return clean_temporaries(self.root, recursive=True, max_age_s=max_age_s)

    @staticmethod
    def _temp_name(folder: Path) -> Path:
        return folder / f"incoming{TEMP_MARKER}{os.getpid()}-{secrets.token_hex(6)}"


def clean_temporaries(
    folder: Path, *, recursive: bool = False, max_age_s: float = STALE_TEMP_SECONDS
) -> int:
    """Remove `*.tmp-<pid>-*` files whose writer is gone or that are older than `max_age_s`.

    A live writer in another process is never disturbed. Returns how many were removed.
    """
    removed = 0
    now = time.time()
    if not folder.is_dir():
        return 0
    pattern = f"*{TEMP_MARKER}*"
    for temp in folder.rglob(pattern) if recursive else folder.glob(pattern):
        try:
            stale = now - temp.stat().st_mtime > max_age_s
            if stale or not _writer_alive(temp.name):
                temp.unlink()
                removed += 1
        except FileNotFoundError:
            continue  # finished or cleaned by someone else meanwhile
    return removed


def _writer_alive(name: str) -> bool:
    """Whether the process named in a temporary's name still runs (True when unknown)."""
    try:
        pid = int(name.split(TEMP_MARKER, 1)[1].split("-", 1)[0])
    except (IndexError, ValueError):
        return False
    return process_alive(pid)
