"""The cluster head: claims jobs from the library's queue, runs them on Ray actors, records them.

The head is the only process that touches the library. It claims each job under its own worker
name (`host:pid:token`, as a local worker does) and keeps every job it holds alive with
heartbeats, so a restarted head finds them through the usual crash recovery. Each job is
prepared here (`Generator.prepare`), run on an actor (`run_prepared`), and recorded here
(`Generator.record`) only while the job is still running under the claim that started it: a
late result of a job requeued meanwhile is discarded, never written twice.

An actor that dies (killed, its node lost) hands its jobs back through the queue's own recovery
(`JobRepository.recover`): attempts counted, failed after `MAX_ATTEMPTS` starts. The head then
starts a fresh actor where a node is still alive (a few times per node, not forever).
"""

from __future__ import annotations

import contextlib
import secrets
import sys
import time
import traceback
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from core.errors import AtelierError, Cancelled
from core.generation import Finished, GeneratedOutput, Generator, PreparedRequest
from core.library.entities import JobClaim
from core.models.resolve import ResolvedModel
from core.queue.cluster.actor import MissingModel, RemoteJob, RemoteResult, WorkerInfo
from core.queue.cluster.pool import CONTROL, ActorFactory, Slot, slots
from core.queue.jobs import MAX_ATTEMPTS, Job
from core.queue.recovery import Recovered, recover_and_clean, worker_name
from core.queue.worker import RECOVER_EVERY_S, WorkerEvents, WorkerStats, WorkerStatus

if TYPE_CHECKING:
    from core.library import Library

IN_FLIGHT = 2  # jobs sent to each actor at once: the next one waits there while the head writes
RESTARTS_PER_NODE = 3  # fresh actors started on one node after its actors died
RESCAN_S = 5.0  # how often the head looks for new nodes (or nodes that lost their actor)
STARTUP_S = 60.0  # the first jobs wait this long at most for every first actor to be ready


@dataclass
class ClusterStats(WorkerStats):
    by_node: Counter[str] = field(default_factory=Counter)  # jobs done per Ray node id
    requeued: int = 0  # jobs handed back after their actor was lost
    discarded: int = 0  # late results of jobs no longer held
    models_sent: int = 0  # models a worker received from the head
    skipped: set[str] = field(default_factory=set)  # node ids skipped for a model they lack
    workers: list[WorkerInfo] = field(default_factory=list)  # every actor that answered


@dataclass
class _Flight:
    job: Job
    prepared: PreparedRequest
    claim: JobClaim
    tried: set[str] = field(default_factory=set)  # fingerprints of models it waits for


@dataclass(eq=False)
class _Actor:
    handle: Any
    slot: Slot
    info: WorkerInfo | None = None  # set once it answered `describe`
    jobs: dict[int, _Flight] = field(default_factory=dict)  # sent to it, or waiting for a model
    models: deque[str] = field(default_factory=lambda: deque(maxlen=2))  # recently run
    receiving: dict[str, list[_Flight]] = field(default_factory=dict)  # fingerprint -> waiting
    lacks: set[str] = field(default_factory=set)  # models it has not and cannot receive
    progress_asked: bool = False


class ClusterHead:
    def __init__(
        self,
        library: Library,
        ray: ModuleType,
        events: WorkerEvents | None = None,
        *,
        factory: ActorFactory | None = None,
        generator: Generator | None = None,
        in_flight: int = IN_FLIGHT,
        poll_s: float = 0.5,
        heartbeat_s: float = 2.0,
    ) -> None:
        self.library = library
        self.jobs = library.jobs
        self.ray = ray
        self.events = events or WorkerEvents()
        self.factory = factory or ActorFactory()
        self.generator = generator or Generator(library)
        self.name = worker_name("ray-" + secrets.token_hex(3))
        self.in_flight = in_flight
        self.poll_s, self.heartbeat_s = poll_s, heartbeat_s
        self.actors: list[_Actor] = []
        self._pending: dict[Any, tuple[str, _Actor, Any]] = {}  # ref -> (kind, actor, what)
        self._held: deque[_Flight] = deque()  # claimed, not yet placed
        self._started: Counter[str] = Counter()  # actors started per node
        self._drained = False  # the last claim found no job to run
        self._packages: dict[str, Any] = {}  # fingerprint -> object ref of its tar
        self._stop = False
        self._told_workers: list[WorkerStatus] | None = None  # as `events.workers` last heard
        self.stats = ClusterStats()

    # ---- running -------------------------------------------------------------------------
    def run(self, until_empty: bool = False) -> ClusterStats:
        """Run jobs until stopped (or, with `until_empty`, until none is left to run)."""
        self.recover()
        self._start_actors()
        if not self.actors:
            raise AtelierError("the Ray cluster has no live node with a CPU or GPU to run jobs")
        self._await_actors()
        last_scan = last_beat = last_recovery = time.monotonic()
        told: bool | None = None
        try:
            while not self._stop:
                self._fill()
                busy = bool(self._held) or any(a.jobs for a in self.actors)
                if not busy and self._drained:
                    if until_empty and not self.jobs.running_count():
                        break
                    told = self._tell_idle(told)
                elif busy:
                    told = None
                if self._pending:
                    self._collect(self.poll_s)
                else:
                    time.sleep(self.poll_s)
                now = time.monotonic()
                if now - last_beat >= self.heartbeat_s:
                    self._beat()
                    last_beat = now
                if now - last_scan >= RESCAN_S:
                    self._start_actors()
                    last_scan = now
                if not busy and now - last_recovery >= RECOVER_EVERY_S:
                    self.recover()
                    last_recovery = now
                self._ask_progress()
                self._check_alive()
        finally:
            self._shut_down()
        return self.stats

    def _await_actors(self) -> None:
        """Wait (up to STARTUP_S) until every first actor is ready, so the first jobs spread
        over the whole cluster instead of going to whichever actor started first."""
        deadline = time.monotonic() + STARTUP_S
        while (
            not self._stop
            and any(a.info is None for a in self.actors)
            and time.monotonic() < deadline
        ):
            self._collect(self.poll_s)

    def stop(self) -> None:
        """Stop soon; jobs in flight are cancelled and go back to the queue, uncounted."""
        self._stop = True

    def recover(self) -> list[Recovered]:
        """The queue's crash recovery, as a local worker runs it (half-written files go too)."""
        recovered = recover_and_clean(self.jobs)
        if recovered and self.events.recovered:
            self.events.recovered(recovered)
        return recovered

    # ---- actors --------------------------------------------------------------------------
    def _start_actors(self) -> None:
        """An actor for every slot of every live node that has none: new nodes, and nodes
        whose actor was lost (at most RESTARTS_PER_NODE times each, not forever)."""
        nodes = slots(self.ray.nodes())
        wanted = Counter(nodes)
        per_node = Counter(slot.node_id for slot in nodes)
        for actor in self.actors:
            wanted[actor.slot] -= 1
        for slot, missing in wanted.items():
            for _ in range(missing):
                if self._started[slot.node_id] >= per_node[slot.node_id] + RESTARTS_PER_NODE:
                    break
                self._started[slot.node_id] += 1
                actor = _Actor(self.factory.start(self.ray, slot), slot)
                self.actors.append(actor)
                self._pending[actor.handle.describe.remote()] = ("ready", actor, None)

    def _lose(self, actor: _Actor, why: str) -> None:
        """The actor is gone: its jobs go back through the queue's recovery."""
        if actor not in self.actors:
            return
        self.actors.remove(actor)
        for ref, (_, owner, _) in list(self._pending.items()):
            if owner is actor:
                del self._pending[ref]
        with contextlib.suppress(Exception):  # already gone
            self.ray.kill(actor.handle, no_restart=True)
        recovered = []
        for flight in actor.jobs.values():
            job, attempts = flight.job, flight.claim.attempts
            give_up = attempts >= MAX_ATTEMPTS
            reason = (
                f"its cluster worker was lost ({why}) while running it {attempts} times; "
                "giving up so the rest of the queue can run"
                if give_up
                else f"its cluster worker was lost ({why}); queued again "
                f"(attempt {attempts} of {MAX_ATTEMPTS})"
            )
            if self.jobs.recover(job.id, self.name, give_up, reason):
                recovered.append(Recovered(job.id, not give_up, reason))
                self.stats.requeued += not give_up
                self.stats.failed += give_up
        actor.jobs.clear()
        self._tell_workers()
        if recovered and self.events.recovered:
            self.events.recovered(recovered)

    def _check_alive(self) -> None:
        """With no actor left and none to start, the held jobs go back and the head stops."""
        if self.actors:
            return
        self._start_actors()
        if self.actors:
            return
        raise AtelierError(
            "no cluster worker is left to run jobs (every actor was lost, and restarted "
            f"{RESTARTS_PER_NODE} times per node)"
        )

    # ---- claiming and placing ------------------------------------------------------------
    def _fill(self) -> bool:
        """Place held jobs, then claim new ones while an actor has room. True if any moved."""
        moved = False
        while self._held and self._place(self._held[0]):
            self._held.popleft()
            moved = True
        models: dict[tuple[str, str], ResolvedModel] = {}  # resolved once for this claim
        while not self._held and (room := self._room()):
            # one statement claims as many as there is room for; training runs here
            jobs = self.jobs.claim_many(self.name, room, kinds=("generate",))
            self._drained = not jobs
            if not jobs:
                break
            moved = True
            for job in jobs:
                self.stats.job_ids.append(job.id)
                flight = self._prepare(job, models)
                if flight is not None and (self._held or not self._place(flight)):
                    self._held.append(flight)
        return moved

    def _room(self) -> int:
        """How many more jobs the ready actors can take."""
        return sum(max(0, self.in_flight - len(a.jobs)) for a in self.actors if a.info is not None)

    def _prepare(
        self, job: Job, models: dict[tuple[str, str], ResolvedModel] | None = None
    ) -> _Flight | None:
        """Check and resolve the job here; a bad one fails now, before any actor sees it."""
        try:
            prepared = self.generator.prepare(job.request, models)
        except Exception as exc:
            self._fail(job, exc)
            return None
        return _Flight(job, prepared, JobClaim(self.name, job.attempts))

    def _place(self, flight: _Flight) -> bool:
        """Send the job to the best actor with room: one that ran its model lately, else the
        least busy. False when none has room; a job no actor can run fails."""
        fingerprint = flight.prepared.model.fingerprint
        able = [a for a in self.actors if fingerprint not in a.lacks]
        if not able and not any(a.info is None for a in self.actors) and self.actors:
            self._fail(
                flight.job,
                AtelierError(
                    f"no cluster worker has model {flight.prepared.model.name} "
                    f"(fingerprint {fingerprint[:12]}) and none could receive it"
                ),
            )
            return True
        free = [a for a in able if a.info is not None and len(a.jobs) < self.in_flight]
        if not free:
            return False
        best = min(free, key=lambda a: (fingerprint not in a.models, len(a.jobs)))
        self._send(best, flight)
        return True

    def _send(self, actor: _Actor, flight: _Flight) -> None:
        job = flight.job
        if job.id not in actor.jobs:
            actor.jobs[job.id] = flight
            self._emit(self.events.job_started, job)
            self._tell_workers()
        actor.models.append(flight.prepared.model.fingerprint)
        ref = actor.handle.run.remote(RemoteJob(job.id, job.request, flight.prepared))
        self._pending[ref] = ("run", actor, flight)

    # ---- results -------------------------------------------------------------------------
    def _collect(self, timeout: float) -> None:
        ready, _ = self.ray.wait(list(self._pending), num_returns=1, timeout=timeout)
        if ready:  # then take every other one already done, without waiting
            more, _ = self.ray.wait(list(self._pending), num_returns=len(self._pending), timeout=0)
            ready = list(dict.fromkeys([*ready, *more]))
        finished: list[tuple[_Actor, _Flight, RemoteResult]] = []
        for ref in ready:
            entry = self._pending.pop(ref, None)
            if entry is None:
                continue
            kind, actor, what = entry
            try:
                value = self.ray.get(ref)
            except self.ray.exceptions.RayTaskError as exc:
                if kind == "run":
                    self._task_failed(actor, what, exc)
                else:
                    self._lose(actor, f"{kind} failed: {exc.cause!r}")
                continue
            except self.ray.exceptions.RayError as exc:
                self._lose(actor, type(exc).__name__)
                continue
            if kind == "run" and isinstance(value, RemoteResult):
                actor.jobs.pop(what.job.id, None)
                finished.append((actor, what, value))
                continue
            getattr(self, f"_on_{kind}")(actor, what, value)
        if finished:
            self._tell_workers()  # those actors are free now (reported only when it changed)
            if not self._stop:
                self._fill()  # the actors start their next jobs while these are written
            self._record(finished)

    def _on_ready(self, actor: _Actor, what: None, info: WorkerInfo) -> None:
        actor.info = info
        self.stats.workers.append(info)
        self._tell_workers()

    def _on_progress(self, actor: _Actor, what: None, events: list[Any]) -> None:
        actor.progress_asked = False
        step = self.events.step
        for job_id, event in events:
            flight = actor.jobs.get(job_id)
            if flight is not None and step is not None:
                step(flight.job, event)

    def _on_run(self, actor: _Actor, flight: _Flight, value: MissingModel) -> None:
        self._missing(actor, flight, value)

    def _on_receive(self, actor: _Actor, fingerprint: str, refused: str | None) -> None:
        waiting = actor.receiving.pop(fingerprint, [])
        if refused is not None:
            actor.lacks.add(fingerprint)
            self.stats.skipped.add(actor.slot.node_id)
            print(f"cluster: {_where(actor)} skipped for a model: {refused}", file=sys.stderr)
            for flight in waiting:
                actor.jobs.pop(flight.job.id, None)
                self._held.appendleft(flight)
            return
        self.stats.models_sent += 1
        for flight in waiting:
            self._send(actor, flight)

    def _missing(self, actor: _Actor, flight: _Flight, missing: MissingModel) -> None:
        """The actor lacks the job's model: send it once (through the object store), or give
        the job to another worker when this one cannot take it."""
        fingerprint = missing.model.fingerprint
        if fingerprint in actor.lacks:
            actor.jobs.pop(flight.job.id, None)
            self._held.appendleft(flight)
            return
        if fingerprint not in actor.receiving:
            actor.receiving[fingerprint] = []
            ref = actor.handle.receive_model.remote(missing.model, [self._package(missing.model)])
            self._pending[ref] = ("receive", actor, fingerprint)
        actor.receiving[fingerprint].append(flight)

    def _package(self, model: Any) -> Any:
        from core.queue.cluster.models import pack_model

        if model.fingerprint not in self._packages:
            self._packages[model.fingerprint] = self.ray.put(pack_model(model))
        return self._packages[model.fingerprint]

    def _record(self, finished: list[tuple[_Actor, _Flight, RemoteResult]]) -> None:
        """Record every result that came in at one poll as one group: their files fsync-ed
        together, one transaction, each job's claim checked on its own (a late result is
        discarded with its files). Should the group fail, each is recorded alone, so one bad
        result fails only its own job."""
        try:
            answers = self.generator.record_many([_finished(f, r) for _, f, r in finished])
        except Exception as exc:
            if len(finished) == 1:
                self._fail(finished[0][1].job, exc)
            else:
                for one in finished:
                    self._record([one])
            return
        for (actor, flight, _), outputs in zip(finished, answers, strict=True):
            if outputs is None:
                self.stats.discarded += 1
            else:
                self._done(actor, flight.job, outputs)

    def _done(self, actor: _Actor, job: Job, outputs: list[GeneratedOutput]) -> None:
        self.stats.done += 1
        self.stats.outputs += len(outputs)
        if actor.info is not None:
            self.stats.by_node[actor.info.node_id] += 1
        self._emit(self.events.job_done, job, outputs)

    def _task_failed(self, actor: _Actor, flight: _Flight, exc: Any) -> None:
        actor.jobs.pop(flight.job.id, None)
        self._tell_workers()
        cause = exc.cause if isinstance(exc.cause, BaseException) else exc
        if isinstance(cause, Cancelled):
            if self._stop:
                self.jobs.release(flight.job.id)
            else:
                self.jobs.finish(flight.job.id, "cancelled", "Cancelled", "cancelled while running")
                self.stats.cancelled += 1
                self._emit(self.events.job_cancelled, flight.job)
            return
        self._fail(flight.job, cause)

    def _fail(self, job: Job, exc: BaseException) -> None:
        kind = type(exc).__name__
        message = str(exc) or repr(exc)
        if not isinstance(exc, AtelierError):
            traceback.print_exception(exc, file=sys.stderr)
            message = f"unexpected {kind}: {message}"
        self.jobs.finish(job.id, "failed", kind, message)
        self.stats.failed += 1
        self._emit(self.events.job_failed, job, kind, message)

    # ---- keeping jobs alive, progress, stopping ------------------------------------------
    def _beat(self) -> None:
        """Heartbeats for every job held; a cancel asked for anywhere reaches its actor."""
        for flight in list(self._held):
            if self.jobs.heartbeat(flight.job.id, self.name):
                self._held.remove(flight)
                self.jobs.finish(flight.job.id, "cancelled", "Cancelled", "cancelled while held")
                self.stats.cancelled += 1
                self._emit(self.events.job_cancelled, flight.job)
        for actor in self.actors:
            for job_id in list(actor.jobs):
                if self.jobs.heartbeat(job_id, self.name):
                    actor.handle.cancel.options(concurrency_group=CONTROL).remote(job_id)

    def _ask_progress(self) -> None:
        if self.events.step is None:
            return
        for actor in self.actors:
            if actor.jobs and actor.info is not None and not actor.progress_asked:
                actor.progress_asked = True
                ref = actor.handle.progress.options(concurrency_group=CONTROL).remote()
                self._pending[ref] = ("progress", actor, None)

    def _shut_down(self) -> None:
        """Jobs still held go back to the queue uncounted; the actors end."""
        for flight in self._held:
            self.jobs.release(flight.job.id)
        self._held.clear()
        for actor in self.actors:
            for job_id in actor.jobs:
                self.jobs.release(job_id)
            with contextlib.suppress(Exception):
                self.ray.kill(actor.handle, no_restart=True)
        self.actors.clear()
        self._pending.clear()
        self._tell_workers()

    def _tell_idle(self, told: bool | None) -> bool | None:
        if self.events.idle is None:
            return told
        paused = self.jobs.is_paused()
        if paused != told:
            self.events.idle(paused)
        return paused

    def _tell_workers(self) -> None:
        """`events.workers`, when the actors or the jobs they run changed since last told."""
        if self.events.workers is None:
            return
        workers = [
            WorkerStatus(_where(a), "cuda" if a.slot.gpu else "cpu", next(iter(a.jobs), None))
            for a in self.actors
            if a.info is not None
        ]
        if workers != self._told_workers:
            self._told_workers = workers
            self.events.workers(workers)

    @staticmethod
    def _emit(callback: Callable[..., None] | None, *args: object) -> None:
        if callback is not None:
            callback(*args)


def _finished(flight: _Flight, remote: RemoteResult) -> Finished:
    """What `Generator.record_many` takes for one result: the job as prepared here, run there."""
    job, prepared = flight.job, flight.prepared
    return Finished(
        PreparedRequest(remote.request, prepared.model, prepared.refiner, prepared.inputs),
        remote.result,
        project=job.project,
        out_dir=Path(job.out_dir) if job.out_dir else None,
        job_id=job.id,
        stem=job.stem,
        environment=remote.environment,
        claim=flight.claim,
    )


def _where(actor: _Actor) -> str:
    info = actor.info
    return f"{info.host} (node {info.node_id[:8]})" if info else actor.slot.node_id[:8]


__all__ = ["ClusterHead", "ClusterStats", "GeneratedOutput"]
