"""Several files made durable at once, for a group of finished results recorded together.

Each file is written to its temporary name beside its target, then every temporary is fsync-ed,
the fsyncs issued together from a few threads (the file system joins them into fewer journal
commits; an fsync waits in the kernel without the GIL), then each is renamed into place, and
(when asked) each folder that gained a name is synced once. So every file is on disk under its
real name before the caller commits the rows that name it, as one file written alone would be.
A crash on the way leaves temporaries, which `core.library.store.clean_temporaries` removes.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

SYNC_THREADS = 8  # fsyncs in flight at once; more did not pay on an ext4 VM disk

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
    handles = []
    try:
        for staged in files:
            handle = open(staged.temp, "xb")  # noqa: SIM115 (closed below, after the fsyncs)
            handles.append(handle)
            handle.write(staged.data)
            handle.flush()
        fsync_all([handle.fileno() for handle in handles])
        for handle in handles:
            handle.close()
        for staged in files:
            os.replace(staged.temp, staged.target)
    finally:
        for handle in handles:
            handle.close()
        for staged in files:
            staged.temp.unlink(missing_ok=True)
    if sync_folders:
        for folder in dict.fromkeys(staged.target.parent for staged in files):
            sync_folder(folder)


def fsync_all(fds: Sequence[int]) -> None:
    """fsync every descriptor; several at once from a small thread pool."""
    if len(fds) <= 1:
        for fd in fds:
            os.fsync(fd)
        return
    for _ in _threads().map(os.fsync, fds):  # re-raises the first error
        pass


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


def _threads() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(SYNC_THREADS, thread_name_prefix="atelier-fsync")
        return _pool
