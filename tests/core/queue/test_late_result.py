"""A late result (its job was requeued meanwhile) is discarded: nothing recorded, no file left.

This is what keeps a cluster's jobs exactly once when a worker thought lost answers after all;
the head records through `Generator.record(claim=...)`."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import ClaimLost
from core.generation import Generator, run_prepared
from core.library import Library
from core.library.entities import JobClaim
from core.queue.jobs import NewJob
from core.request import GenerationRequest


def test_a_result_for_a_requeued_job_is_discarded(
    library: Library, generator: Generator, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    request = GenerationRequest("text2img", "demo:sd", "a red circle", seed=3, steps=2)
    library.jobs.add(NewJob(request, out_dir=str(out), stem="late"))
    job = library.jobs.claim_next("host:1:head")
    assert job is not None
    prepared = generator.prepare(job.request)
    result = run_prepared(generator.engine, prepared)
    # meanwhile the job was given up on and queued again, then claimed afresh by the same head
    assert library.jobs.recover(job.id, "host:1:head", give_up=False, reason="lost")
    again = library.jobs.claim_next("host:1:head")
    assert again is not None and again.attempts == 2
    with pytest.raises(ClaimLost):
        generator.record(
            prepared, result, job_id=job.id, out_dir=out, stem="late",
            claim=JobClaim("host:1:head", job.attempts),
        )  # fmt: skip
    assert library.runs.count_outputs() == 0 and list(out.iterdir()) == []
    # the current claim's result is recorded, once
    [output] = generator.record(
        prepared, result, job_id=job.id, out_dir=out, stem="late",
        claim=JobClaim("host:1:head", again.attempts),
    )  # fmt: skip
    assert Path(output.path) == out / "late.png" and library.jobs.get(job.id).status == "done"  # type: ignore[union-attr]
