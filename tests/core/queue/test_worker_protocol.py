"""The worker process's protocol: every message comes back as it was sent, and a line that
cannot be read says why (garbled, unknown, from another version)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from core.generation import GeneratedOutput
from core.library import Library
from core.queue.jobs import Job, JobRepository, NewJob
from core.queue.process import protocol
from core.queue.recovery import Recovered as RecoveredJob
from core.queue.worker import WorkerStatus
from core.request import GenerationRequest, LoraRef
from core.training.spec import TrainingSpec


@pytest.fixture
def job(library: Library) -> Job:
    """A job as the database hands it back, with a request that uses every kind of field."""
    request = GenerationRequest(
        task="img2img",
        model="demo:sd",
        prompt='a red circle, ünïcode and "quotes"\non two lines',
        seed=2**40 + 3,
        steps=4,
        cfg_scale=6.5,
        init_image="sha256:" + "ab" * 32,
        loras=(LoraRef("demo-lora", 0.7),),
    )
    jobs = JobRepository(library.db.session_factory)
    added = jobs.add(NewJob(request, project="cats", out_dir="/tmp/out", stem="cat"))
    claimed = jobs.claim_next("host:1:abc")
    assert claimed is not None and claimed.id == added.id
    return claimed


@pytest.fixture
def training_job(library: Library) -> Job:
    """A training job as the database hands it back: its work is a TrainingSpec."""
    spec = TrainingSpec(
        method="lora", base="demo:sd", images="/data/star", prompt="a zxq star", name="zxq",
        steps=40, seed=9, rank=8, sample_every=10,
    )  # fmt: skip
    jobs = JobRepository(library.db.session_factory)
    added = jobs.add(NewJob(spec, project="shapes"))
    assert added.kind == "train" and added.spec == spec
    return added


def _messages(job: Job) -> list[protocol.Message]:
    output = GeneratedOutput(7, 3, "/tmp/out/cat.png", 2**40 + 3, "cd" * 32, 0)
    finished = dataclasses.replace(job, status="failed", error_message="out of memory")
    return [
        protocol.Stop(),
        protocol.Wake(),
        protocol.Reproduce("a1b2c3d4", 12),
        protocol.Started(job),
        protocol.Step(job.id, 0, 2, 3, 20, "base", None),
        protocol.Step(job.id, 1, 2, 0, 20, "refiner", protocol.Preview(2, 1, b"\x00\xff\x10" * 2)),
        protocol.Done(job, (output, dataclasses.replace(output, output_id=8, index=1))),
        protocol.Failed(finished, "ModelError", "out of memory"),
        protocol.Cancelled(job),
        protocol.Paused(dataclasses.replace(job, status="paused")),
        protocol.Training(job.id, 12, 40, 0.0731, 2.5, 11.2),
        protocol.Samples(job.id, (31, 32)),
        protocol.Note(job.id, "making 4 class images with demo:sd"),
        protocol.Recovered((RecoveredJob(4, True, "its worker stopped"),)),
        protocol.Reproduced("a1b2c3d4", report={"output_id": 12, "status": "exact"}),
        protocol.Reproduced("a1b2c3d4", error="no output 12 in this library"),
        protocol.Workers(
            (
                WorkerStatus("gpu-box (node 5f2a9c01)", "cuda", job.id),
                WorkerStatus("laptop (node 0b7e4d12)", "cpu", None),
            )
        ),
        protocol.Workers(()),
        protocol.Problem("Run on cluster: could not reach 10.0.0.5:6379; jobs run on this machine"),
    ]


def test_every_message_comes_back_as_it_was_sent(job: Job) -> None:
    messages = _messages(job)
    assert {type(m) for m in messages} == set(protocol._TYPES.values())
    for message in messages:
        line = protocol.encode(message)
        assert "\n" not in line
        assert json.loads(line)["v"] == protocol.VERSION
        assert protocol.decode(line + "\n") == message


def test_a_training_job_on_the_wire_keeps_its_spec(training_job: Job) -> None:
    line = protocol.encode(protocol.Started(training_job))
    back = protocol.decode(line)
    assert isinstance(back, protocol.Started) and back.job == training_job
    assert back.job.spec.sample_every == 10 and back.job.task == "train lora"
    with pytest.raises(TypeError, match="is a train job; it has no image request"):
        _ = back.job.request


def test_a_job_on_the_wire_keeps_every_field(job: Job) -> None:
    back = protocol.job_from_wire(json.loads(json.dumps(protocol.job_to_wire(job))))
    assert back == job
    assert back.request.canonical_json() == job.request.canonical_json()
    assert back.created_at == job.created_at and back.created_at.tzinfo is not None
    assert back.started_at is not None and back.worker == "host:1:abc"


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ("stop\n", "not a JSON line: 'stop'"),
        ('{"v": 3, "type": "step", "job_id": 1\n', "not a JSON line"),
        ("[1, 2]", "not a JSON object"),
        ('{"v": 3, "type": "explode"}', "unknown message type 'explode' (known: stop, wake"),
        ('{"v": 3}', "unknown message type None"),
        (
            '{"v": 3, "type": "reproduce", "token": "ab"}',
            "a 'reproduce' message without 'output_id'",
        ),
        (
            '{"v": 3, "type": "reproduce", "token": "ab", "output_id": "12"}',
            "'reproduce' field 'output_id' should be int, not str",
        ),
        ('{"v": 3, "type": "started", "job": {"id": 1}}', "a job with missing fields"),
        (
            '{"v": 3, "type": "done", "job": JOB, "outputs": [{"path": "x.png"}]}',
            "bad 'done' message",
        ),
        (
            '{"v": 3, "type": "workers", "workers": [{"node": "a", "device": "cpu", '
            '"job_id": "7"}]}',
            "'workers' field 'job_id' should be int, not str",
        ),
        ('{"v": 3, "type": "workers", "workers": ["a"]}', "a worker should be an object"),
        ('{"v": 3, "type": "problem"}', "a 'problem' message without 'text'"),
        (
            '{"v": 3, "type": "step", "job_id": 1, "call": 0, "calls": 1, "step": 0, "steps": 2, '
            '"phase": "base", "preview": {"width": 4, "height": 4, "rgb": "AAAA"}}',
            "a 4x4 preview of 3 bytes, expected 48",
        ),
    ],
)
def test_a_line_that_cannot_be_read_says_why(job: Job, line: str, says: str) -> None:
    line = line.replace("JOB", json.dumps(protocol.job_to_wire(job)))
    with pytest.raises(protocol.ProtocolError, match="worker protocol") as caught:
        protocol.decode(line)
    assert says in str(caught.value)
    assert not isinstance(caught.value, protocol.VersionMismatch)


def test_a_job_with_a_field_of_the_wrong_type_names_the_field(job: Job) -> None:
    wire: dict[str, Any] = protocol.job_to_wire(job)
    wire["attempts"] = True
    line = json.dumps({"v": 3, "type": "cancelled", "job": wire})
    with pytest.raises(protocol.ProtocolError, match="job's 'attempts' should be int, not bool"):
        protocol.decode(line)
    wire["attempts"], wire["work"]["steps"] = 1, "many"
    with pytest.raises(protocol.ProtocolError, match=r"bad 'cancelled' message: .*steps"):
        protocol.decode(json.dumps({"v": 3, "type": "cancelled", "job": wire}))


@pytest.mark.parametrize("version", [protocol.VERSION + 1, 2, 1, None, "3"])
def test_a_line_of_another_version_is_a_version_mismatch(version: object) -> None:
    line = json.dumps({"v": version, "type": "wake"})
    with pytest.raises(protocol.VersionMismatch, match="different versions of Atelier") as caught:
        protocol.decode(line)
    assert caught.value.version == version
    assert f"version {version!r}, expected {protocol.VERSION}" in str(caught.value)
