"""A cluster head claims several jobs in one statement and records the results that came in
together as one group (`JobRepository.claim_many`, `Generator.record_many`): each result's claim
is checked on its own, so a late one is discarded with its files while the others commit."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from core.errors import BadInput
from core.formats.png import read_atelier_record
from core.generation import Finished, Generator, run_prepared
from core.library import Library
from core.library.entities import JobClaim
from core.queue.jobs import NewJob
from core.request import GenerationRequest

HEAD = "host:1:head"


def _request(seed: int) -> GenerationRequest:
    return GenerationRequest("text2img", "demo:sd", "a red circle", seed=seed, steps=1)


def _finished(generator: Generator, job_id: int, seed: int, out: Path, stem: str) -> Finished:
    prepared = generator.prepare(_request(seed))
    result = run_prepared(generator.engine, prepared)
    return Finished(
        prepared, result, out_dir=out, job_id=job_id, stem=stem, claim=JobClaim(HEAD, 1)
    )


def test_a_group_with_one_lost_claim_commits_the_others_and_leaves_nothing_of_it(
    library: Library, generator: Generator, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    library.jobs.add_many([NewJob(_request(s), out_dir=str(out), stem=f"s{s}") for s in (1, 2, 3)])
    first, second, third = library.jobs.claim_many(HEAD, 3, kinds=("generate",))
    group = [
        _finished(generator, job.id, seed, out, f"s{seed}")
        for job, seed in ((first, 1), (second, 2), (third, 3))
    ]
    # meanwhile the second was given up on, queued again and claimed afresh: its result is late
    assert library.jobs.recover(second.id, HEAD, give_up=False, reason="lost")
    [again] = library.jobs.claim_many(HEAD, 3, kinds=("generate",))
    assert again.id == second.id and again.attempts == 2

    kept, lost, also_kept = generator.record_many(group)

    assert lost is None and kept is not None and also_kept is not None
    assert sorted(p.name for p in out.iterdir()) == ["s1.png", "s3.png"]  # no temporaries either
    assert library.runs.count_outputs() == 2
    assert [library.jobs.get(j.id).status for j in (first, second, third)] == [  # type: ignore[union-attr]
        "done", "running", "done",
    ]  # fmt: skip
    record = read_atelier_record(out / "s3.png")
    assert record is not None and record["request"]["seed"] == 3
    assert Path(also_kept[0].path) == out / "s3.png"


def test_two_results_of_one_name_in_a_group_both_stay(
    library: Library, generator: Generator, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    library.jobs.add_many([NewJob(_request(s), out_dir=str(out), stem="same") for s in (4, 5)])
    jobs = library.jobs.claim_many(HEAD, 2, kinds=("generate",))
    group = [
        _finished(generator, job.id, s, out, "same") for job, s in zip(jobs, (4, 5), strict=True)
    ]

    [[a], [b]] = generator.record_many(group)  # type: ignore[misc]

    assert (Path(a.path).name, Path(b.path).name) == ("same.png", "same-1.png")
    seeds = [read_atelier_record(p)["request"]["seed"] for p in (a.path, b.path)]  # type: ignore[index]
    assert seeds == [4, 5]  # neither overwrote the other


def test_claim_many_takes_jobs_in_queue_order_and_none_while_paused(library: Library) -> None:
    added = library.jobs.add_many([NewJob(_request(s)) for s in range(5)])
    library.jobs.set_paused(True)
    assert library.jobs.claim_many(HEAD, 3, kinds=("generate",)) == []
    library.jobs.set_paused(False)

    taken = library.jobs.claim_many(HEAD, 3, kinds=("generate",))

    assert [j.id for j in taken] == [j.id for j in added[:3]]
    assert all(j.status == "running" and j.worker == HEAD and j.attempts == 1 for j in taken)
    assert [j.id for j in library.jobs.claim_many(HEAD, 9, kinds=("generate",))] == [
        j.id for j in added[3:]
    ]
    assert library.jobs.claim_many(HEAD, 3, kinds=("train",)) == []


def test_a_group_that_fails_records_none_of_it_and_leaves_no_file(
    library: Library, generator: Generator, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    library.jobs.add_many([NewJob(_request(s), out_dir=str(out), stem=f"s{s}") for s in (6, 7)])
    good_job, bad_job = library.jobs.claim_many(HEAD, 2, kinds=("generate",))
    good = _finished(generator, good_job.id, 6, out, "s6")
    bad = replace(_finished(generator, bad_job.id, 7, out, "s7"), parents=(9999,))

    with pytest.raises(BadInput, match="9999"):
        generator.record_many([good, bad])
    assert library.runs.count_outputs() == 0 and list(out.iterdir()) == []

    # what the cluster head does then: each alone, so only the bad one fails
    [[output]] = generator.record_many([good])  # type: ignore[misc]
    assert Path(output.path) == out / "s6.png"
    with pytest.raises(BadInput):
        generator.record_many([bad])
    assert sorted(p.name for p in out.iterdir()) == ["s6.png"]
