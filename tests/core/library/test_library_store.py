from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from core.errors import BadInput
from core.library import Library
from core.library.store import ContentStore


def test_same_bytes_are_stored_once_at_a_path_named_by_their_hash(tmp_path: Path) -> None:
    store = ContentStore(tmp_path / "store")
    first = store.put_bytes(b"an image", "PNG")
    second = store.put_bytes(b"an image", ".png")
    sha = hashlib.sha256(b"an image").hexdigest()

    assert first == second
    assert first.path == tmp_path / "store" / sha[:2] / sha[2:4] / f"{sha}.png"
    assert first.path.read_bytes() == b"an image"
    assert first.size == len(b"an image")
    assert store.exists(sha, "png")
    assert not store.exists(sha, "jpg")
    assert [p for p in (tmp_path / "store").rglob("*") if p.is_file()] == [first.path]


def test_put_file_copies_streams_and_is_idempotent(tmp_path: Path) -> None:
    src = tmp_path / "photo.JPG"
    data = os.urandom(3 * 1024 * 1024 + 17)  # several read chunks
    src.write_bytes(data)
    store = ContentStore(tmp_path / "store")

    stored = store.put_file(src)
    again = store.put_file(src)

    assert stored == again
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert stored.path.suffix == ".jpg"
    assert stored.path.read_bytes() == data
    assert src.read_bytes() == data  # the original is left alone
    assert store.path_for(stored.sha256, "jpg") == stored.path
    assert store.clean_temporaries() == 0
    assert len([p for p in (tmp_path / "store").rglob("*") if p.is_file()]) == 1


def test_bad_hashes_and_extensions_are_refused(tmp_path: Path) -> None:
    store = ContentStore(tmp_path / "store")
    with pytest.raises(BadInput, match="sha256"):
        store.path_for("../../etc/passwd", "png")
    with pytest.raises(BadInput, match="ext"):
        store.put_bytes(b"x", "p/ng")
    with pytest.raises(BadInput, match="no such file"):
        store.put_file(tmp_path / "missing.png")


def test_crash_leftovers_are_removed_but_a_live_writers_temporary_is_kept(tmp_path: Path) -> None:
    store = ContentStore(tmp_path / "store")
    folder = tmp_path / "store" / "ab" / "cd"
    folder.mkdir(parents=True)
    dead_writer = folder / "incoming.tmp-999999999-abc"  # no such process
    dead_writer.write_bytes(b"half a file")
    old = tmp_path / "store" / f"incoming.tmp-{os.getpid()}-def"
    old.write_bytes(b"half")
    two_days_ago = time.time() - 2 * 24 * 3600
    os.utime(old, (two_days_ago, two_days_ago))
    live = tmp_path / "store" / f"incoming.tmp-{os.getpid()}-123"  # this process, just now
    live.write_bytes(b"being written")

    assert store.clean_temporaries() == 2
    assert not dead_writer.exists()
    assert not old.exists()
    assert live.exists()


def test_library_open_removes_crash_leftovers_from_the_store(tmp_path: Path) -> None:
    leftover = tmp_path / "store" / "12" / "34" / "incoming.tmp-999999999-0a0b"
    leftover.parent.mkdir(parents=True)
    leftover.write_bytes(b"partial")
    with Library.open(tmp_path) as lib:
        assert not leftover.exists()
        assert lib.store.root == tmp_path / "store"
