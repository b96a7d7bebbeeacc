"""Run on cluster: the setting persists; with it on, the window's worker process runs the queue
on a real Ray cluster (two nodes on loopback) and the Workers list shows each worker, its device
and its job; without Ray the setting says how to install it and the jobs run on this machine.
The Workers list shows the local worker too."""

from __future__ import annotations

import platform
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from desktop_helpers import fill_demo
from no_qt import ModuleBlocker

from core.queue.cluster.pool import ray_missing
from core.queue.worker import WorkerStatus
from desktop.main_window import MainWindow
from desktop.panels.settings import SettingsDialog
from desktop.settings import Preferences
from tests.ray_test_cluster import RayTestCluster

INSTALL = "Ray is not installed; install it with `pip install 'atelier[ray]'`"


@pytest.fixture
def without_ray(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ray unimportable in this process, as where `atelier[ray]` was never installed."""
    monkeypatch.delitem(sys.modules, "ray", raising=False)
    blocker = ModuleBlocker(("ray",), "Ray is not installed here")
    monkeypatch.setattr(sys, "meta_path", [blocker, *sys.meta_path])


def _seen(window: MainWindow) -> list[list[WorkerStatus]]:
    """Every Workers report the window hears from now on."""
    seen: list[list[WorkerStatus]] = []
    window.session.bridge.workers.connect(lambda workers: seen.append(list(workers)))
    return seen


def test_the_cluster_setting_round_trips_and_persists(
    make_window: Callable[..., MainWindow], qtbot
) -> None:
    if ray_missing():
        pytest.skip("Ray is not installed (the dialog refuses the setting; tested below)")
    prefs = Preferences(device="cpu", cluster=True, cluster_address="10.0.0.5:6379")
    dialog = SettingsDialog(prefs)
    qtbot.addWidget(dialog)
    assert dialog.preferences() == prefs
    assert dialog.cluster.isEnabled() and dialog.cluster_address.isEnabled()
    dialog.cluster.setChecked(False)
    assert not dialog.cluster_address.isEnabled()  # the address means nothing without it
    assert dialog.preferences().ray_address() is None
    first = make_window()
    first.apply_preferences(prefs)
    first.close()
    second = make_window()
    assert second.session.prefs == prefs and second.session.prefs.ray_address() == "10.0.0.5:6379"
    # an empty address: the cluster `ray start` left on this machine
    assert Preferences(cluster=True).ray_address() == "auto"
    assert Preferences(cluster=True, cluster_address="local").ray_address() == "local"


def test_without_ray_the_setting_says_how_to_install_it_and_jobs_run_here(
    make_window: Callable[..., MainWindow], without_ray: None, qtbot
) -> None:
    dialog = SettingsDialog(Preferences(cluster=True, cluster_address="local"))
    qtbot.addWidget(dialog)
    assert not dialog.cluster.isEnabled() and not dialog.cluster.isChecked()
    assert dialog.cluster_note.text().startswith(INSTALL)
    assert dialog.preferences().cluster is False  # refused
    window = make_window()
    window.apply_preferences(Preferences(cluster=True))  # a settings file from before
    seen = _seen(window)
    window.session.start_worker(poll_s=600)
    assert not window.session.on_cluster
    assert window.statusBar().currentMessage().startswith(f"Worker: Run on cluster: {INSTALL}")
    fill_demo(window)
    with qtbot.waitSignal(window.session.bridge.jobDone, timeout=120_000):
        (job,) = window.generate.queue_jobs(1)
    assert window.session.jobs.get(job.id).status == "done"
    assert [(platform.node(), job.id)] in [[(w.node, w.job_id) for w in r] for r in seen]


def test_the_workers_list_shows_this_machine_and_the_job_it_runs(
    running_window: MainWindow, qtbot
) -> None:
    window = running_window
    seen = _seen(window)
    qtbot.waitUntil(lambda: bool(window.queue.workers.rows()), timeout=60_000)
    assert window.queue.workers.rows() == [(platform.node(), "auto", "idle")]
    fill_demo(window)
    with qtbot.waitSignal(window.session.bridge.jobDone, timeout=120_000):
        (job,) = window.generate.queue_jobs(1)
    qtbot.waitUntil(lambda: window.queue.workers.rows()[0][2] == "idle", timeout=10_000)
    (node, device, _) = window.queue.workers.rows()[0]
    assert node == platform.node() and device in ("cpu", "cuda", "mps")  # chosen by its job
    assert [WorkerStatus(node, device, job.id)] in seen


def test_run_on_cluster_runs_the_queue_on_both_nodes_and_lists_each_worker(
    make_window: Callable[..., MainWindow], ray_cluster: RayTestCluster, qtbot
) -> None:
    window = make_window()
    window.apply_preferences(Preferences(cluster=True, cluster_address=ray_cluster.cluster.address))
    seen = _seen(window)
    bridge = window.session.bridge
    done: list[int] = []
    steps: set[int] = set()
    bridge.jobDone.connect(lambda job, outputs: done.append(job.id))
    bridge.step.connect(lambda job, *_: steps.add(job.id))
    window.session.start_worker(poll_s=0.1)
    assert window.session.on_cluster
    fill_demo(window, steps=20)
    jobs = window.generate.queue_jobs(4)
    qtbot.waitUntil(lambda: len(done) == 4, timeout=240_000)
    assert sorted(done) == sorted(j.id for j in jobs)
    for job in jobs:
        record = window.session.jobs.get(job.id)
        assert record is not None and record.status == "done"
    outputs = window.session.library.runs.list_outputs()
    assert len(outputs) == 4 and all(Path(o.path).is_file() for o in outputs)
    assert steps  # progress from remote actors reached the window
    # the Workers list: two workers, one per node of the cluster, each with a job at some point
    nodes = {w.node for report in seen for w in report}
    assert len(nodes) == 2 and all(" (node " in node for node in nodes)
    assert {w.node for report in seen for w in report if w.job_id is not None} == nodes
    assert {w.job_id for report in seen for w in report} - {None} <= {j.id for j in jobs}
    qtbot.waitUntil(lambda: len(window.queue.workers.rows()) == 2, timeout=10_000)
    rows = window.queue.workers.rows()
    assert {r[0] for r in rows} == nodes and {r[1] for r in rows} == {"cpu"}
    qtbot.waitUntil(
        lambda: [r[2] for r in window.queue.workers.rows()] == ["idle", "idle"], timeout=10_000
    )


def test_turning_the_setting_on_starts_a_cluster_worker_that_says_why_it_cannot(
    running_window: MainWindow, qtbot
) -> None:
    """A new worker process at once; nothing answers at the address, so the status bar says so
    and the jobs run on this machine."""
    if ray_missing():
        pytest.skip("Ray is not installed")
    window = running_window
    before = window.session._worker
    with qtbot.waitSignal(window.session.bridge.workerProblem, timeout=60_000) as problem:
        window.apply_preferences(Preferences(cluster=True, cluster_address="127.0.0.1:1"))
    assert window.session._worker is not before and window.session.on_cluster
    assert problem.args[0].startswith("Run on cluster: cannot reach the Ray cluster at 127.0.0.1:1")
    assert "cannot reach the Ray cluster" in window.statusBar().currentMessage()
    fill_demo(window)
    with qtbot.waitSignal(window.session.bridge.jobDone, timeout=120_000):
        (job,) = window.generate.queue_jobs(1)
    assert window.session.jobs.get(job.id).status == "done"
