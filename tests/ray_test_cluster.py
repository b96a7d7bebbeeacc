"""One real Ray cluster for the tests (tests/core/cluster, and the window's "Run on cluster" in
tests/desktop): a head node and a second node, on loopback; the `ray_cluster` fixture, shared
through tests/conftest.py so that one test session starts one cluster.

Both nodes run on this machine with one CPU each. `RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0` (set
before Ray is imported) makes Ray take 127.0.0.1 as every node's address, so no traffic leaves
the machine; the nodes are given it too. Only the processes this fixture started are stopped
(`cluster.shutdown()`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

# RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 is set by tests/conftest.py, before anything imports Ray

LOOPBACK = "127.0.0.1"


@dataclass
class RayTestCluster:
    cluster: Any
    head_node: Any
    worker_node: Any
    mapped_away: Path  # models under this folder are not on the worker node (it maps them away)

    def add_node(self, **env: str) -> Any:
        return self.cluster.add_node(num_cpus=1, node_ip_address=LOOPBACK, env_vars=env)

    def remove_node(self, node: Any) -> None:
        self.cluster.remove_node(node, allow_graceful=False)


@pytest.fixture(scope="session")
def ray_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RayTestCluster]:
    import ray
    from ray.cluster_utils import Cluster

    models = tmp_path_factory.mktemp("head-models")
    empty = tmp_path_factory.mktemp("worker-models-here")
    received = tmp_path_factory.mktemp("worker-received")
    cluster = Cluster(
        initialize_head=True,
        head_node_args={
            "num_cpus": 1,
            "node_ip_address": LOOPBACK,
            "include_dashboard": False,
            # a lost node is noticed in about a second, not thirty
            "_system_config": {"health_check_period_ms": 500, "health_check_failure_threshold": 2},
        },
    )
    worker = cluster.add_node(
        num_cpus=1,
        node_ip_address=LOOPBACK,
        env_vars={
            "ATELIER_CLUSTER_PATHS": f"{models}={empty}",
            "ATELIER_CLUSTER_MODELS": str(received),
        },
    )
    ray.init(address=cluster.address, log_to_driver=False, configure_logging=False)
    try:
        yield RayTestCluster(cluster, cluster.head_node, worker, models)
    finally:
        ray.shutdown()
        cluster.shutdown()
