"""The queue on a Ray cluster, on this machine: throughput, Ray's cost per job, the head's limit.

A two-node Ray cluster on loopback (one CPU each, like two one-GPU workers), started and stopped
here. Four figures:
- `cluster_jobs_per_s`: demo:sd 64x64 jobs through 2 actors, against the local worker (one
  process, the same jobs) as the baseline. On a machine with 2 cores the two cannot differ much;
  the figure shows what the cluster path costs, not what more machines give.
- `cluster_ray_ms`: Ray's cost per job: a round trip to an actor carrying a prepared job and
  bringing back a 64x64 result (no engine), sequential; median.
- `cluster_head_images_per_s`: what one head can record: stand-in actors return a precomputed
  image at once, the head prepares, writes each PNG (with its record) and commits, as for real
  jobs. Goal >= 500/s; divided by 4 images/s per GPU it says how many GPUs one head can feed.
  Each stand-in keeps HEAD_IN_FLIGHT jobs (a cluster of many GPUs keeps many results waiting
  at each poll); the figure with 2 in flight per actor, as first measured, is in the details.
"""

from __future__ import annotations

import os
import time
from typing import Any

from bench.common import Case, fresh_home, log, median

TARGET_HEAD_IPS = 500.0
GPU_IMAGES_PER_S = 4.0  # an SD 1.5 512x512 image at 20 steps takes about 0.25 s on a fast GPU
# Jobs in flight per stand-in actor in the head's case. The head records what came in at one
# poll as one group, so how many results wait at a poll is part of what is measured: 100 GPUs
# at the head's IN_FLIGHT of 2 keep 200 jobs in flight; two stand-ins with 16 each keep 32.
HEAD_IN_FLIGHT = 16


class StandInActor:
    """Answers like `GenerationActor`, but returns one precomputed image at once."""

    def __init__(self, threads: int) -> None:
        import platform

        import numpy as np
        from PIL import Image

        self.image = Image.fromarray(
            np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
        )
        self.threads = threads
        self.environment = {"node": platform.node(), "device": "cpu", "threads": threads}

    def describe(self) -> Any:
        from core.queue.cluster.actor import WorkerInfo

        return WorkerInfo(_node_id(), "stand-in", os.getpid(), self.threads, {})

    def run(self, job: Any) -> Any:
        from core.engine.runner import EngineResult, GeneratedImage
        from core.queue.cluster.actor import RemoteResult

        request = job.prepared.request
        result = EngineResult(
            [GeneratedImage(self.image, request.seed, 0)], "StandIn", "DDIMScheduler", {}
        )
        return RemoteResult(job.job_id, request, result, self.environment)

    def receive_model(self, model: Any, package: list[Any]) -> str | None:
        return None

    def progress(self) -> list[Any]:
        return []

    def cancel(self, job_id: int) -> None:
        return None


def _node_id() -> str:
    import ray

    return str(ray.get_runtime_context().get_node_id())


def cluster_cases(quick: bool) -> list[Case]:
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # loopback only
    import ray
    from ray.cluster_utils import Cluster

    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 1, "node_ip_address": "127.0.0.1", "include_dashboard": False},
    )
    cluster.add_node(num_cpus=1, node_ip_address="127.0.0.1")
    ray.init(address=cluster.address, log_to_driver=False, configure_logging=False)
    try:
        throughput = _throughput(quick)
        overhead = _ray_overhead(quick)
        head = _head_rate(quick)
    finally:
        ray.shutdown()
        cluster.shutdown()
    return [throughput, overhead, head]


def _queue(library: Any, count: int, first_seed: int) -> None:
    from core.queue.jobs import NewJob
    from core.request import GenerationRequest

    library.jobs.add_many(
        [
            NewJob(GenerationRequest("text2img", "demo:sd", "a red circle", seed=s, steps=4))
            for s in range(first_seed, first_seed + count)
        ]
    )


def _done_times(stamps: list[float]) -> Any:
    from core.queue.worker import WorkerEvents

    return WorkerEvents(job_done=lambda job, outputs: stamps.append(time.perf_counter()))


def _rate(stamps: list[float], warm: int) -> float:
    """Jobs per second after the first `warm` ones (actors started, models loaded)."""
    measured = stamps[warm - 1 :]
    return (len(measured) - 1) / (measured[-1] - measured[0])


def _throughput(quick: bool) -> Case:
    import ray

    from core.generation import Generator
    from core.library import Library
    from core.queue.cluster.head import ClusterHead
    from core.queue.worker import Worker

    jobs, warm = (8, 4) if quick else (60, 6)
    with fresh_home("cluster") as home:
        library = Library.open(home)
        try:
            _queue(library, jobs, 1)
            stamps: list[float] = []
            stats = ClusterHead(library, ray, _done_times(stamps), poll_s=0.05).run(True)
            cluster_ips = _rate(stamps, warm)
            _queue(library, jobs, 1)
            local: list[float] = []
            Worker(library, Generator(library), _done_times(local), poll_s=0.05).run(True)
            local_ips = _rate(local, warm)
        finally:
            library.close()
    log(f"cluster_jobs_per_s: {cluster_ips:.2f} through 2 actors, local {local_ips:.2f}")
    return Case(
        "cluster_jobs_per_s",
        cluster_ips,
        "jobs/s",
        None,
        local_ips,
        None,
        note=f"{jobs} jobs (first {warm} not timed), demo:sd 64x64, 4 steps; 2 actors on a "
        "2-node loopback cluster (1 CPU each) vs the local worker (baseline), same machine",
        details={"by_node": sorted(stats.by_node.values()), "ratio": cluster_ips / local_ips},
    )


def _ray_overhead(quick: bool) -> Case:
    import ray

    from core.generation import Generator
    from core.library import Library
    from core.queue.cluster.actor import RemoteJob
    from core.queue.cluster.pool import ActorFactory, slots
    from core.request import GenerationRequest

    calls = 30 if quick else 300
    with fresh_home("cluster-ray") as home:
        library = Library.open(home)
        try:
            request = GenerationRequest("text2img", "demo:sd", "a red circle", seed=1, steps=4)
            prepared = Generator(library).prepare(request)
        finally:
            library.close()
    actor = ActorFactory(StandInActor).start(ray, slots(ray.nodes())[0])
    ray.get(actor.describe.remote())
    times = []
    for i in range(calls):
        started = time.perf_counter()
        ray.get(actor.run.remote(RemoteJob(i, request, prepared)))
        times.append(time.perf_counter() - started)
    ray.kill(actor)
    ms = 1000 * median(times[5:])
    log(f"cluster_ray_ms: {ms:.2f} ms per job round trip")
    return Case(
        "cluster_ray_ms",
        ms,
        "ms/job",
        None,
        note=f"{calls} sequential round trips to an actor: a prepared demo:sd job out, a 64x64 "
        "result back (no engine); median",
        details={"p95_ms": 1000 * sorted(times)[int(0.95 * (len(times) - 1))]},
    )


def _head_rate(quick: bool) -> Case:
    jobs, warm = (100, 10) if quick else (1500, 50)
    ips, stats, outputs, thread_ms = _head_run(jobs, warm, HEAD_IN_FLIGHT)
    ips_two, _, _, _ = _head_run(jobs, warm, 2)
    gpus = ips / GPU_IMAGES_PER_S
    log(
        f"cluster_head_images_per_s: {ips:.0f}/s, feeds about {gpus:.0f} GPUs at 4 images/s "
        f"({ips_two:.0f}/s with 2 jobs in flight per actor); the head's thread {thread_ms:.2f} "
        "ms of CPU an image"
    )
    return Case(
        "cluster_head_images_per_s",
        ips,
        "images/s",
        f">= {TARGET_HEAD_IPS:g}",
        None,
        ips >= TARGET_HEAD_IPS,
        note=f"{jobs} jobs (first {warm} not timed) from 2 stand-in actors returning a 64x64 "
        f"image at once, {HEAD_IN_FLIGHT} jobs in flight each (100 GPUs keep 200 in flight); the "
        "head claims, prepares, writes each PNG with its record, and commits",
        details={
            "gpus_fed_at_4_images_per_s": gpus,
            "in_flight_per_actor": HEAD_IN_FLIGHT,
            "images_per_s_at_2_in_flight": ips_two,
            # CPU time of the head's own thread per image (all jobs, start included): what one
            # head needs of a core, apart from Ray's threads and the stand-ins on the same cores
            "head_thread_cpu_ms_per_image": thread_ms,
            "done": stats.done,
            "outputs_recorded": outputs,
        },
    )


def _head_run(jobs: int, warm: int, in_flight: int) -> tuple[float, Any, int, float]:
    import ray

    from core.library import Library
    from core.queue.cluster.head import ClusterHead
    from core.queue.cluster.pool import ActorFactory

    with fresh_home("cluster-head") as home:
        library = Library.open(home)
        try:
            _queue(library, jobs, 1)
            stamps: list[float] = []
            head = ClusterHead(
                library,
                ray,
                _done_times(stamps),
                factory=ActorFactory(StandInActor),
                poll_s=0.05,
                in_flight=in_flight,
            )
            cpu = time.thread_time()
            stats = head.run(True)
            cpu = time.thread_time() - cpu
            outputs = library.runs.count_outputs()
        finally:
            library.close()
    return _rate(stamps, warm), stats, outputs, 1000 * cpu / jobs
