"""Reaching Ray and starting the actors: one per GPU (`num_gpus=1`), one per CPU-only node.

Each actor gets its thread count explicitly (Ray starts workers with OMP_NUM_THREADS=1) and the
engine's malloc setting (`core.engine.malloc`) in its runtime environment. Neither Ray nor the
head retries a task or restarts an actor on its own (`max_restarts=0`, `max_task_retries=0`):
a lost actor's jobs go back through the queue's recovery, where attempts are counted.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import socket
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from core.errors import AtelierError, BadInput

INSTALL_HINT = "pip install 'atelier[ray]'"
CONTROL = "control"  # the actors' concurrency group for progress and cancel


NOT_INSTALLED = (
    f"Ray is not installed; install it with `{INSTALL_HINT}` (on every machine of the cluster)"
)


def require_ray() -> ModuleType:
    """The `ray` module, or BadInput saying how to install it."""
    try:
        return importlib.import_module("ray")
    except ImportError as exc:
        raise BadInput("--ray", f"{NOT_INSTALLED}, or run the queue without --ray") from exc


def ray_missing() -> str | None:
    """None when Ray can be imported, else how to install it; without importing it (the
    window asks, and importing Ray takes seconds)."""
    try:
        found = importlib.util.find_spec("ray") is not None
    except (ImportError, ValueError):
        found = False
    return None if found else NOT_INSTALLED


def connect(address: str | None) -> ModuleType:
    """Join the cluster at `address` ("auto": the one `ray start` left on this machine), or
    start a local one for this machine alone ("local")."""
    ray = require_ray()
    if not ray.is_initialized():
        where = None if address == "local" else (address or "auto")
        if where not in (None, "auto"):
            _check_reachable(where)
        ray.init(address=where, log_to_driver=False, configure_logging=False)
    return ray


def _check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """AtelierError now when nothing answers at a `HOST:PORT` address: Ray itself waits for
    minutes there before it gives up."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or "://" in address:
        return  # a ray:// client address, or one Ray reads its own way
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise AtelierError(
            f"cannot reach the Ray cluster at {address} ({exc.strerror or exc}); is its head "
            "running (`ray start --head`) and the address right?"
        ) from None


@dataclass(frozen=True)
class Slot:
    """Where one actor runs: a node, and whether it holds a GPU there."""

    node_id: str
    gpu: bool
    cpus: int  # reserved for it, and its torch thread count


def slots(nodes: list[dict[str, Any]]) -> list[Slot]:
    """One slot per GPU of every live node; one per CPU-only node (all its CPUs)."""
    found: list[Slot] = []
    for node in nodes:
        if not node.get("Alive"):
            continue
        resources = node.get("Resources") or {}
        gpus, cpus = int(resources.get("GPU", 0)), int(resources.get("CPU", 0))
        if gpus:
            found += [Slot(node["NodeID"], True, cpus // gpus) for _ in range(gpus)]
        elif cpus:
            found.append(Slot(node["NodeID"], False, cpus))
    return found


def actor_env(threads: int) -> dict[str, str]:
    """The environment an actor's process starts with: threads and the malloc tuning."""
    from core.engine.malloc import tuned_env

    env = {"OMP_NUM_THREADS": str(max(1, threads))}
    tuned = tuned_env(os.environ).get("GLIBC_TUNABLES")
    if tuned:
        env["GLIBC_TUNABLES"] = tuned
    for name in ("ATELIER_MALLOC", "OMP_WAIT_POLICY"):
        if name in os.environ:
            env[name] = os.environ[name]
    return env


class ActorFactory:
    """Starts actors of `actor_class` (the real `GenerationActor`, or a bench's stand-in)."""

    def __init__(self, actor_class: type | None = None) -> None:
        from core.queue.cluster.actor import GenerationActor

        self.actor_class = actor_class or GenerationActor

    def start(self, ray: ModuleType, slot: Slot) -> Any:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        threads = max(1, slot.cpus)
        remote = ray.remote(concurrency_groups={CONTROL: 1})(self.actor_class).options(
            num_gpus=1 if slot.gpu else 0,
            num_cpus=slot.cpus,
            max_restarts=0,
            max_task_retries=0,
            scheduling_strategy=NodeAffinitySchedulingStrategy(slot.node_id, soft=False),
            runtime_env={"env_vars": actor_env(threads)},
        )
        return remote.remote(threads)
