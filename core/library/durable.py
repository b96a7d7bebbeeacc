"""Several files made durable at once, for a group of finished results recorded together.

Each file is written to its temporary name beside its target and fsync-ed, several at once
from a few threads (the file system joins their fsyncs into fewer journal commits, and making a
new store folder, writing and syncing wait in the kernel without the GIL), then each is renamed
into place, in order, and (when asked) each folder that gained a name is synced once. So every
file is on disk under its real name before the caller commits the rows that name it, as one
file written alone is. One file alone is written in the caller's thread, as before. A crash on
the way leaves temporaries, which `core.library.store.clean_temporaries` removes.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

SYNC_THREADS = 8  # files written and fsync-ed at once
T = TypeVar("T")

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


@dataclass(frozen=True)
class StagedFile:
    temp: Path  # beside `target`, named so `clean_temporaries` knows it (`*.tmp-<pid>-*`)
    target: Path
    data: bytes


def write_durably(files: Sequence[StagedFile], *, sync_folders: bool = False) -> None:
    """Write, fsync and rename every file; with `sync_folders`, sync each target's folder once.
    Nothing is left under a temporary name, whatever fails."""
    try:
        _each(_write_synced, files)
        for staged in files:
            os.replace(staged.temp, staged.target)
    finally:
        for staged in files:
            staged.temp.unlink(missing_ok=True)
    if sync_folders:
        _each(sync_folder, list(dict.fromkeys(staged.target.parent for staged in files)))


def sync_folder(folder: Path) -> None:
    """Make renames into `folder` durable where the OS allows syncing a directory (POSIX)."""
    if os.name != "posix":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_synced(staged: StagedFile) -> None:
    """One temporary, written and fsync-ed (its folder made first: a new store folder)."""
    staged.temp.parent.mkdir(parents=True, exist_ok=True)
    with open(staged.temp, "xb") as handle:
        handle.write(staged.data)
        handle.flush()
        os.fsync(handle.fileno())


def _each(work: Callable[[T], object], items: Sequence[T]) -> None:
    """`work` on every item: one alone in this thread; several at once on the pool, all of
    them finished (or failed) before this returns; the first failure is raised."""
    if len(items) <= 1:
        for item in items:
            work(item)
        return
    futures = [_threads().submit(work, item) for item in items]
    wait(futures)
    for future in futures:
        future.result()


def _threads() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(SYNC_THREADS, thread_name_prefix="atelier-sync")
        return _pool
