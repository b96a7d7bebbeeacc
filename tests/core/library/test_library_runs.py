from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from core.errors import BadInput
from core.library import Library
from core.library.entities import NewOutput, Output

MakeOutput = Callable[..., NewOutput]


def _record(library: Library, project: str, outputs: list[NewOutput]) -> tuple[int, list[int]]:
    project_id = library.projects.get_or_create(project).id
    return library.runs.record_run(
        project_id, None, '{"task": "text2img"}', "h" * 64, '{"torch": "2"}', '{"s": 1}', outputs
    )


def _row_counts(library: Library) -> dict[str, int]:
    with library.db.engine.connect() as conn:
        return {
            table: int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())
            for table in ("runs", "outputs", "output_parents", "assets")
        }


def test_a_run_is_recorded_with_its_outputs_and_read_back(
    library: Library, make_output: MakeOutput
) -> None:
    run_id, (first, second) = _record(library, "cats", [make_output(b"a", 0), make_output(b"b", 1)])

    run = library.runs.get_run(run_id)
    assert run is not None
    assert run.project == "cats" and run.output_ids == (first, second)
    assert run.request_json == '{"task": "text2img"}' and run.environment_json == '{"torch": "2"}'

    output = library.runs.get_output(second)
    assert isinstance(output, Output)
    assert output.run_id == run_id and output.project == "cats"
    assert output.image_index == 1 and output.seed == 2**40 + 1
    assert output.record_json == '{"record": 1}'
    asset = library.assets.get(output.asset_sha256)
    assert asset is not None and asset.role == "output"
    assert (library.store.root / asset.relpath).read_bytes() == b"b"
    assert library.runs.get_output(9999) is None
    assert library.runs.get_run(9999) is None


def test_lineage_links_outputs_to_their_parents_and_children(
    library: Library, make_output: MakeOutput
) -> None:
    _, (base,) = _record(library, "p", [make_output(b"base")])
    _, (edit, upscale) = _record(
        library, "p", [make_output(b"edit", 0, (base,)), make_output(b"up", 1, (base,))]
    )
    _, (merged,) = _record(library, "p", [make_output(b"merged", 0, (edit, upscale))])

    base_out = library.runs.get_output(base)
    merged_out = library.runs.get_output(merged)
    assert base_out is not None and base_out.child_ids == (edit, upscale)
    assert base_out.parent_ids == ()
    assert merged_out is not None and merged_out.parent_ids == (edit, upscale)


def test_a_failing_output_leaves_nothing_of_the_run_behind(
    library: Library, make_output: MakeOutput
) -> None:
    _record(library, "p", [make_output(b"kept")])
    before = _row_counts(library)

    outputs = [make_output(b"fine", 0), make_output(b"orphan", 1, (424242,))]
    with pytest.raises(BadInput, match="424242"):
        _record(library, "p", outputs)

    assert _row_counts(library) == before
    assert library.runs.count_outputs() == 1


def test_a_foreign_key_failure_rolls_back_the_whole_run(
    library: Library, make_output: MakeOutput
) -> None:
    with pytest.raises(IntegrityError, match="FOREIGN KEY"):
        library.runs.record_run(777, None, "{}", "h" * 64, "{}", "{}", [make_output(b"x")])
    assert _row_counts(library) == {"runs": 0, "outputs": 0, "output_parents": 0, "assets": 0}


def test_history_pages_newest_first_and_filters_by_project(
    library: Library, make_output: MakeOutput
) -> None:
    ids: list[int] = []
    for i in range(5):
        project = "dogs" if i % 2 else "cats"
        ids += _record(library, project, [make_output(f"img{i}".encode())])[1]

    assert library.runs.count_outputs() == 5
    assert library.runs.count_outputs("cats") == 3
    assert [o.id for o in library.runs.list_outputs(limit=2)] == [ids[4], ids[3]]
    assert [o.id for o in library.runs.list_outputs(offset=2, limit=10)] == ids[2::-1]
    assert [o.id for o in library.runs.list_outputs(project="dogs")] == [ids[3], ids[1]]
    assert library.runs.list_outputs(project="nobody") == []


def test_the_same_image_twice_shares_one_asset(library: Library, make_output: MakeOutput) -> None:
    _record(library, "p", [make_output(b"same", 0), make_output(b"same", 1)])
    assert _row_counts(library)["assets"] == 1
    assert library.runs.count_outputs() == 2
