"""X/Y grids, full-text history search with filters, and export."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from PIL import Image

from core.cli.main import main
from core.errors import BadInput
from core.formats.png import read_png_text
from core.generation import Generator
from core.library.history import History, HistoryFilter
from core.queue.sweep import GRID_CHUNK, parse_axis
from core.request import GenerationRequest


def test_a_3x3_grid_queues_nine_cells_and_draws_a_labelled_grid(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = str(tmp_path / "home")
    axes = ["--x", "cfg=1,4,9", "--y", "seed=1,2,3"]
    options = ["--model", "demo:sd", "--prompt", "a red circle", "--steps", "2"]
    argv = ["--home", home, "grid", *axes, *options, "--out", str(tmp_path / "grid"), "--json"]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert [len(row) for row in result["job_ids"]] == [3, 3, 3]
    grid_png = Path(result["path"])
    with Image.open(grid_png) as image:
        assert image.width >= 3 * 64 and image.height >= 3 * 64
    meta = json.loads(read_png_text(grid_png)[GRID_CHUNK])
    assert meta["x"]["field"] == "cfg_scale" and meta["x"]["values"] == [1.0, 4.0, 9.0]
    assert meta["y"]["values"] == [1, 2, 3]
    cells = [cell for row in meta["cells"] for cell in row]
    assert len({c["output_id"] for c in cells}) == 9
    # every cell stays in history with its own parameters
    capsys.readouterr()
    assert (
        main(["--home", home, "history", "show", str(meta["cells"][2][1]["output_id"]), "--json"])
        == 0
    )
    record = json.loads(capsys.readouterr().out)["record"]
    assert record["request"]["cfg_scale"] == 4.0 and record["request"]["seed"] == 3


def test_axis_values_are_typed_and_checked() -> None:
    template = GenerationRequest("text2img", "demo:sd", "x")
    assert parse_axis("steps=2,4", template).values == (2, 4)
    assert parse_axis("prompt=a red circle, big|a blue star", template).values == (
        "a red circle, big",
        "a blue star",
    )
    with pytest.raises(BadInput, match="colour"):
        parse_axis("colour=red,blue", template)
    with pytest.raises(BadInput, match="steps"):
        parse_axis("steps=two", template)
    with pytest.raises(BadInput, match="PARAM=V1"):
        parse_axis("cfg", template)


def test_search_finds_prompts_and_filters(generator: Generator, init_png: Path) -> None:
    made = {}
    for prompt, negative in (("a red circle", "blurry"), ("a blue star", ""), ("red square", "")):
        [out] = generator.generate(
            GenerationRequest(
                "text2img", "demo:sd", prompt, negative_prompt=negative, seed=1, steps=2
            ),
            project="shapes" if "circle" in prompt else "default",
        )
        made[prompt] = out.output_id
    [child] = generator.generate(
        GenerationRequest(
            "img2img", "demo:sd", "red circle again", seed=1, steps=2, init_image=str(init_png)
        )
    )
    history = History(generator.library.db.session_factory)

    def ids(**kw: object) -> set[int]:
        return {o.id for o in history.search(HistoryFilter(**kw))}  # type: ignore[arg-type]

    assert ids(text="red") == {made["a red circle"], made["red square"], child.output_id}
    assert ids(text="circ") == {made["a red circle"], child.output_id}  # prefixes match
    assert ids(text="blurry") == {made["a red circle"]}  # negative prompts too
    assert ids(text="red", task="img2img") == {child.output_id}
    assert ids(text="red", project="shapes") == {made["a red circle"]}
    assert ids(text='"unbalanced (quote AND') == set()  # user text never breaks the query
    assert history.count(HistoryFilter(text="red")) == 3


def test_search_and_export_from_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home = ["--home", str(tmp_path / "home")]
    for prompt in ("a green triangle", "a yellow star"):
        assert (
            main([*home, "generate", "--model", "demo:sd", "--prompt", prompt, "--steps", "2"]) == 0
        )
    capsys.readouterr()
    assert main([*home, "history", "search", "triangle", "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert [f["prompt"] for f in found] == ["a green triangle"]
    out = tmp_path / "history.csv"
    assert main([*home, "history", "export", "--format", "csv", "--out", str(out)]) == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert sorted(r["prompt"] for r in rows) == ["a green triangle", "a yellow star"]
    assert all(r["steps"] == "2" and r["model"] == "demo:sd" for r in rows)
    capsys.readouterr()
    assert main([*home, "history", "export", "--search", "star"]) == 0
    exported = json.loads(capsys.readouterr().out)
    assert len(exported) == 1 and exported[0]["record"]["request"]["prompt"] == "a yellow star"
    assert main([*home, "history", "search", "x", "--since", "yesterday"]) == 2
    assert main([*home, "history", "delete", str(found[0]["output_id"])]) == 0
    capsys.readouterr()
    assert main([*home, "history", "search", "triangle", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert main([*home, "history", "delete", "999"]) == 2


def test_deleting_outputs_removes_rows_search_entries_and_store_files(generator: Generator) -> None:
    [parent] = generator.generate(
        GenerationRequest("text2img", "demo:sd", "a red kite", seed=1, steps=2)
    )
    [child] = generator.generate(
        GenerationRequest("img2img", "demo:sd", "a red kite at night", seed=1, steps=2,
                          init_image=f"output:{parent.output_id}")
    )  # fmt: skip
    library = generator.library
    store_file = Path(parent.path)
    assert store_file.is_file()
    assert library.delete_outputs([parent.output_id]) == 1
    assert not store_file.exists()
    assert library.runs.get_output(parent.output_id) is None
    kept = library.runs.get_output(child.output_id)
    assert kept is not None and kept.parent_ids == ()  # the child stays, without the link
    found = History(library.db.session_factory).search(HistoryFilter(text="kite"))
    assert [o.id for o in found] == [child.output_id]
