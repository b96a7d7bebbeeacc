"""The queue on a real Ray cluster (two nodes on this machine): jobs run on both nodes, outputs
bit-identical to a local `queue run`, every job done exactly once when an actor is killed or a
node is lost, and a node without a model is skipped for it."""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import threading
from pathlib import Path
from typing import Any

import pytest

from core.engine import malloc
from core.engine.runner import Engine, StepProgress
from core.generation import Generator
from core.library import Library
from core.models.demo import demo_model_path
from core.provenance import ProvenanceRecord
from core.queue.jobs import Job, NewJob
from core.queue.worker import Worker, WorkerEvents, WorkerStatus
from core.request import GenerationRequest
from core.training.spec import TrainingSpec
from tests.ray_test_cluster import RayTestCluster

ray = pytest.importorskip("ray")  # tests/conftest.py made Ray take the loopback address first

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


def _jobs(library: Library, out: Path, count: int, model: str = "demo:sd", steps: int = 4) -> None:
    def request(i: int) -> GenerationRequest:
        return GenerationRequest(
            "text2img", model, f"a red circle {i}", seed=100 + i, steps=steps, width=64, height=64
        )

    library.jobs.add_many(
        [NewJob(request(i), out_dir=str(out), stem=f"job{i}") for i in range(count)]
    )


def _head(library: Library, events: WorkerEvents | None = None) -> Any:
    from core.queue.cluster.head import ClusterHead

    return ClusterHead(library, ray, events, poll_s=0.05, heartbeat_s=0.2)


def _pixels(library: Library) -> dict[str, str]:
    """Each output file's stem -> the pixel hash its record names."""
    found = {}
    for output in library.runs.list_outputs():
        record = ProvenanceRecord.from_json(output.record_json)
        assert record.image is not None
        found[Path(output.path).stem] = record.image.pixel_sha256
    return found


def _exactly_once(library: Library, out: Path, count: int) -> None:
    jobs = library.jobs.list(limit=1000)
    assert [j.status for j in jobs] == ["done"] * count
    runs = [library.runs.get_run(o.run_id) for o in library.runs.list_outputs()]
    assert sorted(r.job_id for r in runs if r is not None) == sorted(j.id for j in jobs)
    assert sorted(p.name for p in out.iterdir()) == sorted(f"job{i}.png" for i in range(count))


def _library(tmp_path: Path, name: str) -> Library:
    return Library.open(tmp_path / name)


def test_jobs_run_on_both_nodes_bit_identical_to_a_local_run(
    ray_cluster: RayTestCluster, tmp_path: Path, engine: Engine
) -> None:
    remote, local = _library(tmp_path, "remote"), _library(tmp_path, "local")
    try:
        _jobs(remote, tmp_path / "remote-out", 6)
        _jobs(local, tmp_path / "local-out", 6)
        told: list[list[WorkerStatus]] = []
        stats = _head(remote, WorkerEvents(workers=told.append)).run(until_empty=True)
        assert stats.done == 6 and len(stats.by_node) == 2  # both nodes ran jobs
        # the window's Workers list: both actors, each on its own node, each with a job at
        # some point, every job of the queue among them, and none left when the head ended
        nodes = {w.node for w in told[0]} | {w.node for seen in told for w in seen}
        assert len(nodes) == 2 and all(" (node " in node for node in nodes)
        assert {w.device for seen in told for w in seen} == {"cpu"}
        busy = {w.node for seen in told for w in seen if w.job_id is not None}
        assert busy == nodes
        ran = {w.job_id for seen in told for w in seen} - {None}
        assert ran == {j.id for j in remote.jobs.list(limit=100)}
        assert told[-1] == [] and all(a != b for a, b in itertools.pairwise(told))
        for info in stats.workers:  # Ray's OMP_NUM_THREADS=1 replaced; the malloc tuning kept
            assert info.threads == 1 and info.env["OMP_NUM_THREADS"] == "1"
            if malloc.applies():
                assert "glibc.malloc.hugetlb=1" in info.env["GLIBC_TUNABLES"]
        _exactly_once(remote, tmp_path / "remote-out", 6)
        Worker(local, Generator(local, engine)).run(until_empty=True)
        assert _pixels(remote) == _pixels(local)
        for output in remote.runs.list_outputs():
            env = ProvenanceRecord.from_json(output.record_json).environment
            assert env["node"] and env["device"] == "cpu" and env["threads"] == 1
            assert "driver" not in env or env["gpu"] is None  # a CPU run names no GPU driver
    finally:
        remote.close()
        local.close()


def test_a_model_the_worker_lacks_is_received_once_and_gives_the_same_pixels(
    ray_cluster: RayTestCluster, tmp_path: Path, engine: Engine
) -> None:
    """The worker node maps the head's model folder to an empty one: it gets the model through
    the object store, checks its fingerprint, and draws the same pixels."""
    model = ray_cluster.mapped_away / "demo-sd-copy"
    if not model.exists():
        shutil.copytree(demo_model_path("demo:sd"), model)
    remote, local = _library(tmp_path, "remote"), _library(tmp_path, "local")
    try:
        _jobs(remote, tmp_path / "remote-out", 4, model=str(model))
        _jobs(local, tmp_path / "local-out", 4, model=str(model))
        stats = _head(remote).run(until_empty=True)
        assert stats.done == 4 and len(stats.by_node) == 2
        assert stats.models_sent == 1  # once, to the one node that lacked it
        _exactly_once(remote, tmp_path / "remote-out", 4)
        Worker(local, Generator(local, engine)).run(until_empty=True)
        assert _pixels(remote) == _pixels(local)
    finally:
        remote.close()
        local.close()


def test_a_node_that_lacks_a_model_and_takes_none_is_skipped(
    ray_cluster: RayTestCluster, tmp_path: Path
) -> None:
    model = ray_cluster.mapped_away / "demo-sd-copy"
    if not model.exists():
        shutil.copytree(demo_model_path("demo:sd"), model)
    empty = tmp_path / "nothing-here"
    empty.mkdir()
    node = ray_cluster.add_node(
        ATELIER_CLUSTER_PATHS=f"{ray_cluster.mapped_away}={empty}", ATELIER_CLUSTER_RECEIVE="0"
    )
    library = _library(tmp_path, "lib")
    try:
        _jobs(library, tmp_path / "out", 5, model=str(model))
        stats = _head(library).run(until_empty=True)
        assert stats.done == 5 and stats.failed == 0
        assert node.node_id in stats.skipped and node.node_id not in stats.by_node
        _exactly_once(library, tmp_path / "out", 5)
    finally:
        library.close()
        ray_cluster.remove_node(node)


def _kill_on_first_step(pick: Any) -> tuple[WorkerEvents, threading.Event]:
    """Events that call `pick(job)` once, at the first step reported from a remote job."""
    done = threading.Event()

    def step(job: Job, event: StepProgress) -> None:
        if not done.is_set():
            done.set()
            pick(job)

    return WorkerEvents(step=step), done


def test_an_actor_killed_mid_job_loses_nothing_and_writes_nothing_twice(
    ray_cluster: RayTestCluster, tmp_path: Path
) -> None:
    library = _library(tmp_path, "lib")
    head = _head(library)
    killed: list[int] = []

    def kill(job: Job) -> None:
        actor = next(a for a in head.actors if job.id in a.jobs)
        killed.append(job.id)
        os.kill(actor.info.pid, signal.SIGKILL)

    events, fired = _kill_on_first_step(kill)
    head.events = events
    try:
        _jobs(library, tmp_path / "out", 6, steps=20)
        stats = head.run(until_empty=True)
        assert fired.is_set() and stats.requeued >= 1
        _exactly_once(library, tmp_path / "out", 6)
        job = library.jobs.get(killed[0])
        assert job is not None and job.attempts == 2  # counted, run again, done once
    finally:
        library.close()


@pytest.mark.slow
def test_a_node_lost_mid_batch_loses_nothing_and_writes_nothing_twice(
    ray_cluster: RayTestCluster, tmp_path: Path
) -> None:
    node = ray_cluster.add_node()
    library = _library(tmp_path, "lib")
    head = _head(library)

    def lose(job: Job) -> None:
        ray_cluster.remove_node(node)

    def on_node(job: Job) -> bool:
        return any(job.id in a.jobs and a.slot.node_id == node.node_id for a in head.actors)

    fired = threading.Event()

    def step(job: Job, event: StepProgress) -> None:
        if not fired.is_set() and on_node(job):
            fired.set()
            lose(job)

    head.events = WorkerEvents(step=step)
    try:
        _jobs(library, tmp_path / "out", 8, steps=20)
        stats = head.run(until_empty=True)
        assert fired.is_set() and stats.requeued >= 1
        _exactly_once(library, tmp_path / "out", 8)
    finally:
        library.close()


def test_queue_run_with_ray_prints_remote_progress_and_outputs(
    ray_cluster: RayTestCluster, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from core.cli.main import main

    library = _library(tmp_path, "home")
    _jobs(library, tmp_path / "out", 3)
    spec = TrainingSpec(
        method="lora", base="demo:sd", images=str(tmp_path), prompt="a zxq star", name="zxq",
        steps=2, seed=1,
    )  # fmt: skip
    [training] = library.jobs.add_many([NewJob(spec)])  # the cluster runs generation jobs only
    library.close()
    assert main(["queue", "run", "--ray", "--until-empty", "--home", str(tmp_path / "home")]) == 0
    captured = capsys.readouterr()
    for i in range(3):
        assert f"-> {tmp_path / 'out' / f'job{i}.png'}" in captured.out
    assert "3 done, 0 failed, 0 cancelled; 3 images" in captured.err
    assert "1 training jobs wait for a local worker" in captured.err
    with Library.open(tmp_path / "home") as library:
        assert library.jobs.get(training.id).status == "queued"  # type: ignore[union-attr]
