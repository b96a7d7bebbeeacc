"""Prompt tags and the Prompts tab's filter; adding a model by hub id."""

from __future__ import annotations

from pathlib import Path

import pytest

from desktop.main_window import MainWindow
from desktop.panels.library import parse_tags
from desktop.panels.library_models import hub_name


def _texts(window: MainWindow) -> list[str]:
    prompts = window.library.prompts
    return [prompts.item(i).text() for i in range(prompts.count())]


def test_a_saved_prompt_shows_its_tags_and_the_filter_finds_it(window: MainWindow) -> None:
    library = window.library
    window.generate.prompt.setPlainText("a lighthouse at dusk")
    library.tags.setText("sea, moody,, sea ")
    window.save_prompt()
    assert library.tags.text() == ""
    (saved,) = window.session.library.prompts.list()
    assert saved.tags == ("sea", "moody")
    window.generate.prompt.setPlainText("a red fox in the snow")
    window.save_prompt()  # no tags
    assert len(_texts(window)) == 2
    assert any("[sea, moody]" in text for text in _texts(window))
    library.filter.setText("mood")  # a tag only, not in the text
    assert len(_texts(window)) == 1 and "lighthouse" in _texts(window)[0]
    library.filter.setText("fox")  # the text (full text search)
    assert len(_texts(window)) == 1 and "fox" in _texts(window)[0]
    library.filter.setText("zebra")
    assert _texts(window) == []
    library.filter.setText('"odd (query*')  # never FTS syntax: no crash, no match
    assert _texts(window) == []
    library.filter.clear()
    assert len(_texts(window)) == 2


def test_parse_tags() -> None:
    assert parse_tags(" a, b,,c , a ") == ("a", "b", "c")
    assert parse_tags("") == ()


def test_an_unknown_hub_id_is_a_message(
    window: MainWindow, qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    models = window.library.models
    answers = iter([("acme/no-such-model@v2", True), ("nothing", True)])
    asked: list[str] = []

    def get_text(*args: object, text: str = "", **kwargs: object) -> tuple[str, bool]:
        asked.append(text)  # what the dialog suggests
        return next(answers)

    monkeypatch.setattr("desktop.panels.library_models.QInputDialog.getText", get_text)
    models.add_hub_dialog()  # the button: the hub id, then the name
    assert asked == ["", "no-such-model"]
    qtbot.waitUntil(
        lambda: "not in the local Hugging Face cache" in window.statusBar().currentMessage(),
        timeout=30_000,
    )
    assert "acme/no-such-model@v2" in window.statusBar().currentMessage()
    assert window.session.library.models.list() == []
    assert "nothing" not in models.names() and not models.busy
    assert hub_name("acme/some-model@v2") == "some-model"
    answers = iter([("no-slash", True)])
    models.add_hub_dialog()
    assert "not a hub id" in window.statusBar().currentMessage()
