from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from core.library import Library
from core.library.entities import NewAsset, NewOutput


@pytest.fixture
def library(tmp_path: Path) -> Iterator[Library]:
    with Library.open(tmp_path / "home") as lib:
        yield lib


MakeOutput = Callable[..., NewOutput]


@pytest.fixture
def make_output(library: Library) -> MakeOutput:
    """Build outputs for `library`: `make_output(content, index=0, parents=())`."""

    def make(content: bytes, index: int = 0, parents: tuple[int, ...] = ()) -> NewOutput:
        return new_output(library, content, index, parents)

    return make


def new_output(
    library: Library, content: bytes, index: int = 0, parents: tuple[int, ...] = ()
) -> NewOutput:
    """An output whose image bytes are really in the store, like the engine will record it."""
    stored = library.store.put_bytes(content, "png")
    asset = NewAsset(
        sha256=stored.sha256,
        relpath=library.store.relpath_for(stored.sha256, "png"),
        size=stored.size,
        format="png",
        width=8,
        height=8,
    )
    return NewOutput(
        asset=asset,
        path=str(stored.path),
        image_index=index,
        seed=2**40 + index,
        pixel_sha256=hashlib.sha256(b"pixels" + content).hexdigest(),
        record_json=json.dumps({"record": index}),
        parent_ids=parents,
    )
