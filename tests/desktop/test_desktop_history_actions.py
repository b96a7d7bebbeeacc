"""The gallery's multi-select, delete and export."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from PySide6.QtCore import QItemSelectionModel

from core.library.entities import NewAsset, NewOutput
from desktop.main_window import MainWindow


def _record(window: MainWindow, n: int) -> list[int]:
    library = window.session.library
    project = library.projects.get_or_create("default")
    request = {"task": "text2img", "model": "demo:sd", "prompt": "a fox"}
    outputs = [
        NewOutput(
            asset=NewAsset(sha256=f"{i:064x}", relpath=f"x/{i}.png", size=1, format="png"),
            path=f"/nonexistent/{i}.png", image_index=i, seed=100 + i,
            pixel_sha256=f"{i:064x}", record_json=json.dumps({"request": request}),
        )
        for i in range(n)
    ]  # fmt: skip
    _, ids = library.runs.record_run(
        project.id, None, json.dumps(request), f"{n:064x}", "{}", "{}", outputs
    )
    window.history.refresh()
    return ids


def _select(window: MainWindow, ids: list[int]) -> None:
    history = window.history
    flags = QItemSelectionModel.SelectionFlag.Select
    for output_id in ids:
        row = history.model.row_of_id(output_id)
        assert row is not None
        history.view.selectionModel().select(history.model.index(row), flags)


def test_select_two_and_delete(window: MainWindow) -> None:
    ids = _record(window, 4)
    history = window.history
    assert history.model.rowCount() == 4
    _select(window, ids[:2])
    assert sorted(history.selected_output_ids()) == sorted(ids[:2])
    assert window.inspector.output is not None and window.inspector.output.id in ids[:2]
    assert sorted(history.delete_selected(confirm=False)) == sorted(ids[:2])
    assert history.model.rowCount() == 2
    assert {history.model.output(r).id for r in range(2)} == set(ids[2:])
    library = window.session.library
    assert all(library.runs.get_output(i) is None for i in ids[:2])
    assert library.runs.get_output(ids[2]) is not None
    assert window.inspector.output is None  # it showed a deleted output
    assert "deleted 2" in window.statusBar().currentMessage()


def test_export_a_selection_as_csv_and_all_as_json(window: MainWindow, tmp_path: Path) -> None:
    ids = _record(window, 3)
    history = window.history
    _select(window, [ids[0], ids[2]])
    target = tmp_path / "sel.csv"
    assert history.export(target) == 2
    with open(target, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert sorted(int(r["output_id"]) for r in rows) == sorted([ids[0], ids[2]])
    assert {r["prompt"] for r in rows} == {"a fox"}
    history.view.clearSelection()
    everything = tmp_path / "all.json"
    assert history.export(everything) == 3
    data = json.loads(everything.read_text(encoding="utf-8"))
    assert sorted(d["output_id"] for d in data) == sorted(ids)


def test_the_delete_button_asks_first(window: MainWindow, monkeypatch) -> None:
    from PySide6.QtWidgets import QMessageBox

    ids = _record(window, 2)
    _select(window, ids[:1])
    answers = [QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes]
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: answers.pop(0))
    window.history._delete_clicked()
    assert window.history.model.rowCount() == 2
    window.history._delete_clicked()
    assert window.history.model.rowCount() == 1 and not answers
