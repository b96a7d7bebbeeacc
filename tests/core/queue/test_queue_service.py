"""The one way into the queue: every producer's jobs are checked, get their final seed when
queued, and are written together or not at all."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from core.errors import BadInput
from core.library import Library
from core.queue.batch import BatchSpec, FolderBatch
from core.queue.jobs import NewJob
from core.queue.sweep import parse_axis, queue_grid
from core.request import SEED_RANGE, GenerationRequest

ROOT = Path(__file__).resolve().parents[3]


def _request(**kw: object) -> GenerationRequest:
    base: dict[str, object] = {"task": "text2img", "model": "demo:sd", "prompt": "a red star"}
    base.update(kw)
    return GenerationRequest(**base)  # type: ignore[arg-type]


def test_a_queued_job_shows_its_final_seed_before_it_runs(library: Library) -> None:
    jobs = library.queue.submit(_request(), copies=3)
    seeds = [job.request.seed for job in jobs]
    assert all(seed is not None and 0 <= seed < SEED_RANGE for seed in seeds)
    assert len(set(seeds)) == 3  # copies without a seed each get their own
    # what the queue holds (and a worker will run) is that seed, not a new draw
    assert [library.jobs.get(job.id).request.seed for job in jobs] == seeds  # type: ignore[union-attr]


def test_a_given_seed_is_kept(library: Library) -> None:
    [job] = library.queue.submit(_request(seed=2**40))
    assert job.request.seed == 2**40


def test_one_bad_job_writes_none_of_its_submission(library: Library) -> None:
    good, bad = NewJob(_request()), NewJob(_request(steps=0))
    with pytest.raises(BadInput, match="steps"):
        library.queue.submit_many([good, bad])
    assert library.jobs.list() == []


def test_a_job_known_bad_is_written_failed_with_its_message(library: Library) -> None:
    [job] = library.queue.submit_many([NewJob(_request(), failed_because="x.png: no mask")])
    assert job.status == "failed" and job.error_message == "x.png: no mask"


def test_editing_a_queued_job_fixes_its_seed_too(library: Library) -> None:
    [job] = library.queue.submit(_request(seed=5))
    library.queue.edit(job.id, _request(prompt="a blue square"))
    edited = library.jobs.get(job.id)
    assert edited is not None and edited.request.prompt == "a blue square"
    assert edited.request.seed is not None


def test_a_grid_shares_one_seed_unless_it_sweeps_seeds(library: Library) -> None:
    template = _request()
    grid = queue_grid(library, template, parse_axis("cfg=1,5,9", template))
    seeds = {library.jobs.get(j).request.seed for row in grid.job_ids for j in row}  # type: ignore[union-attr]
    assert len(seeds) == 1 and None not in seeds
    swept = queue_grid(library, template, parse_axis("seed=3,4", template))
    assert [library.jobs.get(j).request.seed for j in swept.job_ids[0]] == [3, 4]  # type: ignore[union-attr]


def test_a_folder_batch_shares_one_seed_fixed_when_queued(library: Library, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a", "b"):
        Image.new("RGB", (64, 64), "red").save(folder / f"{name}.png")
    spec = BatchSpec(folder, _request(task="img2img"), tmp_path / "out")
    jobs = FolderBatch.open(library, spec).scan()
    assert len(jobs) == 2
    assert jobs[0].request.seed is not None and jobs[0].request.seed == jobs[1].request.seed


def test_nothing_outside_the_repositories_opens_a_database_session() -> None:
    """The library's repositories and services own their sessions (`session_factory`)."""
    found = subprocess.run(
        ["git", "grep", "-n", "-E", r"session_factory|read_session\(", "--", "*.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout.splitlines()
    owners = re.compile(r"^(core/library/|core/queue/jobs\.py|tests/)")
    assert [line for line in found if not owners.match(line)] == []


def test_a_cleared_jobs_id_is_never_given_again(library: Library) -> None:
    first = library.queue.submit(_request(), copies=3)
    for job in first:
        library.jobs.finish(job.id, "cancelled")
    assert library.jobs.clear(("cancelled",)) == 3
    [again] = library.queue.submit(_request())
    assert again.id == first[-1].id + 1  # not the id the first cleared job had
