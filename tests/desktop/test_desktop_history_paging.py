"""The gallery fetches a page at a time, so a big history opens at once."""

from __future__ import annotations

import json
import time

from PySide6.QtCore import QModelIndex

from core.library.entities import NewAsset, NewOutput
from desktop.item_models.history import PAGE
from desktop.main_window import MainWindow

OUTPUTS = 1200


def _record_many(window: MainWindow, n: int) -> None:
    library = window.session.library
    project = library.projects.get_or_create("bulk")
    outputs = [
        NewOutput(
            asset=NewAsset(sha256=f"{i:064x}", relpath=f"x/{i}.png", size=1, format="png"),
            path=f"/nonexistent/{i}.png",
            image_index=i,
            seed=i,
            pixel_sha256=f"{i:064x}",
            record_json=json.dumps({"request": {"task": "text2img", "prompt": f"bulk {i}"}}),
        )
        for i in range(n)
    ]
    library.runs.record_run(project.id, None, "{}", "0" * 64, "{}", "{}", outputs)


def test_pages_are_fetched_lazily(window: MainWindow) -> None:
    _record_many(window, OUTPUTS)
    started = time.perf_counter()
    window.history.refresh()
    model = window.history.model
    assert model.rowCount() == PAGE
    assert time.perf_counter() - started < 2.0
    assert model.canFetchMore(QModelIndex())
    model.fetchMore(QModelIndex())
    assert model.rowCount() == 2 * PAGE
    window.history.view.scrollToBottom()
    window.history.project.setCurrentText("bulk")
    window.history.apply_filter()
    assert model.rowCount() == PAGE
    # thumbnails of missing files fail quietly: no crash, no pixmap
    assert model.data(model.index(0), 1) is None


def test_items_keep_a_thumbnail_sized_cell_before_their_thumbnails_arrive(
    window: MainWindow,
) -> None:
    """The newest image's thumbnail is never ready when the gallery reloads; its cell, which
    sizes every cell, must still have room for one (it was a strip of text height)."""
    from desktop.thumbnails import THUMB_PX

    _record_many(window, 8)  # files that do not exist: their thumbnails never arrive
    window.history.refresh()
    view = window.history.view
    window.show()
    view.doItemsLayout()
    for row in (0, 7):
        rect = view.visualRect(window.history.model.index(row))
        assert rect.height() >= THUMB_PX and rect.width() >= THUMB_PX, rect
