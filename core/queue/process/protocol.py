"""What the window and its worker process say to each other: typed messages, one JSON line each.

Every line is a JSON object `{"v": VERSION, "type": NAME, ...fields}`; `encode` writes one and
`decode` reads one back, in both directions. A line from another version of the protocol, one
that is not JSON, or one of an unknown type or with a missing or mistyped field is a
`ProtocolError` that says which (`VersionMismatch` for the version).

- Parent -> child: `Stop` (finish the current step, put the running job back, exit), `Wake` (a
  job was just added), `Reproduce` (reproduce & verify an output before the next job).
- Child -> parent: `Started`, `Step`, `Done`, `Failed`, `Cancelled`, `Paused` (a job's life:
  the job travels inside, as the child last knew it, so the parent needs no database),
  `Training` (a training job's step: loss, rate, ETA), `Samples` (the sample images it drew),
  `Note` (what a job says on the way), `Recovered` (crash recovery put jobs back),
  `Reproduced` (the answer to a `Reproduce`, by its token), `Workers` (who runs the jobs: each
  worker's node, device and job; a cluster's actors, or the local worker) and `Problem` (what
  the window should tell the user about the worker itself: a cluster it could not reach).

A step's preview travels as raw RGB bytes (base64): for a 64x64 preview that costs about a
third of a PNG's encoding and decoding, for about the same bytes on the pipe.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from core.errors import AtelierError
from core.generation import GeneratedOutput
from core.queue.jobs import Job, work_from_json
from core.queue.recovery import Recovered as RecoveredJob
from core.queue.worker import WorkerStatus
from core.request import GenerationRequest
from core.training.spec import TrainingSpec

VERSION = 3  # 2: job kinds (a job's `work`), Paused, Training, Samples, Note; 3: Workers, Problem


class ProtocolError(ValueError):
    """A line of the worker protocol that cannot be read."""


class VersionMismatch(ProtocolError):
    def __init__(self, version: object) -> None:
        super().__init__(
            f"worker protocol version {version!r}, expected {VERSION}: the window and its "
            "worker process come from different versions of Atelier (restart Atelier)"
        )
        self.version = version


# ---- parent -> child ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Stop:
    pass


@dataclass(frozen=True)
class Wake:
    pass


@dataclass(frozen=True)
class Reproduce:
    token: str
    output_id: int


# ---- child -> parent ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Started:
    job: Job


@dataclass(frozen=True)
class Preview:
    """A step's preview image as raw 8-bit RGB rows."""

    width: int
    height: int
    rgb: bytes


@dataclass(frozen=True)
class Step:
    job_id: int  # the job of the last `Started`
    call: int
    calls: int
    step: int
    steps: int
    phase: str
    preview: Preview | None


@dataclass(frozen=True)
class Done:
    job: Job
    outputs: tuple[GeneratedOutput, ...]


@dataclass(frozen=True)
class Failed:
    job: Job
    kind: str
    message: str


@dataclass(frozen=True)
class Cancelled:
    job: Job


@dataclass(frozen=True)
class Paused:
    job: Job


@dataclass(frozen=True)
class Training:
    """A training job's step: `TrainingProgress`'s fields."""

    job_id: int
    step: int
    total: int
    loss: float
    it_per_s: float
    eta_s: float


@dataclass(frozen=True)
class Samples:
    job_id: int
    output_ids: tuple[int, ...]


@dataclass(frozen=True)
class Note:
    job_id: int
    text: str


@dataclass(frozen=True)
class Recovered:
    items: tuple[RecoveredJob, ...]


@dataclass(frozen=True)
class Reproduced:
    """The answer to `Reproduce`: a report (`ReproduceReport.to_dict`) or an error."""

    token: str
    report: dict[str, Any] | None = None
    error: str | None = None


@dataclass(frozen=True)
class Workers:
    """Who runs the queue's jobs now (sent when that changes)."""

    workers: tuple[WorkerStatus, ...]


@dataclass(frozen=True)
class Problem:
    """Something about the worker itself the user should know (not about one job)."""

    text: str


ToChild = Stop | Wake | Reproduce
ToParent = (
    Started | Step | Done | Failed | Cancelled | Paused | Training | Samples | Note | Recovered
) | (Reproduced | Workers | Problem)
Message = ToChild | ToParent

_TYPES: dict[str, type[Message]] = {
    "stop": Stop,
    "wake": Wake,
    "reproduce": Reproduce,
    "started": Started,
    "step": Step,
    "done": Done,
    "failed": Failed,
    "cancelled": Cancelled,
    "paused": Paused,
    "training": Training,
    "samples": Samples,
    "note": Note,
    "recovered": Recovered,
    "reproduced": Reproduced,
    "workers": Workers,
    "problem": Problem,
}
_NAMES = {kind: name for name, kind in _TYPES.items()}
_LISTS: dict[type[Message], str] = {Recovered: "items", Workers: "workers"}


# ---- the one encoder and decoder ---------------------------------------------------------------
def encode(message: Message) -> str:
    """One line of JSON, without its line end."""
    fields: dict[str, Any]
    match message:
        case Started(job) | Cancelled(job) | Paused(job):
            fields = {"job": job_to_wire(job)}
        case Done(job, outputs):
            fields = {"job": job_to_wire(job), "outputs": [o.to_dict() for o in outputs]}
        case Failed(job, kind, text):
            fields = {"job": job_to_wire(job), "kind": kind, "message": text}
        case Step(job_id, call, calls, step, steps, phase, preview):
            fields = {"job_id": job_id, "call": call, "calls": calls, "step": step}
            fields |= {"steps": steps, "phase": phase, "preview": None}
            if preview is not None:
                rgb = base64.b64encode(preview.rgb).decode("ascii")
                fields["preview"] = {"width": preview.width, "height": preview.height, "rgb": rgb}
        case Recovered(items) | Workers(items):
            fields = {_LISTS[type(message)]: [dataclasses.asdict(item) for item in items]}
        case _:
            fields = dataclasses.asdict(message)
    return json.dumps({"v": VERSION, "type": _NAMES[type(message)], **fields})


def decode(line: str) -> Message:
    """The message on one line; ProtocolError (VersionMismatch) when it cannot be read."""
    try:
        data = json.loads(line)
    except json.JSONDecodeError:
        raise ProtocolError(f"worker protocol: not a JSON line: {_clip(line)}") from None
    if not isinstance(data, dict):
        raise ProtocolError(f"worker protocol: not a JSON object: {_clip(line)}")
    if data.get("v") != VERSION:
        raise VersionMismatch(data.get("v"))
    name = data.get("type")
    kind = _TYPES.get(name) if isinstance(name, str) else None
    if kind is None:
        known = ", ".join(_TYPES)
        raise ProtocolError(f"worker protocol: unknown message type {name!r} (known: {known})")
    try:
        return _decode(kind, _Fields(str(name), data))
    except ProtocolError:
        raise
    except (AtelierError, KeyError, TypeError, ValueError) as exc:
        raise ProtocolError(f"worker protocol: bad {name!r} message: {exc}") from None


def _decode(kind: type[Message], f: _Fields) -> Message:
    if kind is Stop or kind is Wake:
        return kind()
    if kind is Reproduce:
        return Reproduce(f.get("token", str), f.get("output_id", int))
    if kind is Started or kind is Cancelled or kind is Paused:
        return kind(f.job())
    if kind is Training:
        return Training(
            job_id=f.get("job_id", int),
            step=f.get("step", int),
            total=f.get("total", int),
            loss=f.number("loss"),
            it_per_s=f.number("it_per_s"),
            eta_s=f.number("eta_s"),
        )
    if kind is Samples:
        ids = f.get("output_ids", list)
        if not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
            raise ProtocolError("worker protocol: 'samples' output_ids should be whole numbers")
        return Samples(f.get("job_id", int), tuple(ids))
    if kind is Note:
        return Note(f.get("job_id", int), f.get("text", str))
    if kind is Done:
        outputs = tuple(GeneratedOutput(**item) for item in f.get("outputs", list))
        return Done(f.job(), outputs)
    if kind is Failed:
        return Failed(f.job(), f.get("kind", str), f.get("message", str))
    if kind is Step:
        preview = f.optional("preview", dict)
        return Step(
            job_id=f.get("job_id", int),
            call=f.get("call", int),
            calls=f.get("calls", int),
            step=f.get("step", int),
            steps=f.get("steps", int),
            phase=f.get("phase", str),
            preview=_preview(preview) if preview is not None else None,
        )
    if kind is Recovered:
        return Recovered(tuple(RecoveredJob(**item) for item in f.get("items", list)))
    if kind is Workers:
        return Workers(tuple(_worker(item) for item in f.get("workers", list)))
    if kind is Problem:
        return Problem(f.get("text", str))
    return Reproduced(f.get("token", str), f.optional("report", dict), f.optional("error", str))


_T = TypeVar("_T")


class _Fields:
    """A message's fields, read with the type each must have."""

    def __init__(self, name: str, data: dict[str, Any]) -> None:
        self.name, self.data = name, data

    def get(self, field: str, kind: type[_T]) -> _T:
        if field not in self.data:
            raise ProtocolError(f"worker protocol: a {self.name!r} message without {field!r}")
        value = self.data[field]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ProtocolError(
                f"worker protocol: {self.name!r} field {field!r} should be "
                f"{kind.__name__}, not {type(value).__name__}"
            )
        return value

    def number(self, field: str) -> float:
        value = self.data.get(field)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ProtocolError(
                f"worker protocol: {self.name!r} field {field!r} should be a number, "
                f"not {type(value).__name__}"
            )
        return float(value)

    def optional(self, field: str, kind: type[_T]) -> _T | None:
        return None if self.data.get(field) is None else self.get(field, kind)

    def job(self) -> Job:
        return job_from_wire(self.get("job", dict))


def _worker(data: Any) -> WorkerStatus:
    if not isinstance(data, dict):
        raise ProtocolError(f"worker protocol: a worker should be an object, not {data!r}")
    fields = _Fields("workers", data)
    job_id = fields.optional("job_id", int)
    return WorkerStatus(fields.get("node", str), fields.get("device", str), job_id)


def _preview(data: dict[str, Any]) -> Preview:
    fields = _Fields("step", data)
    try:
        rgb = base64.b64decode(fields.get("rgb", str), validate=True)
    except binascii.Error as exc:
        raise ProtocolError(f"worker protocol: a step's preview is not base64 ({exc})") from None
    width, height = fields.get("width", int), fields.get("height", int)
    if len(rgb) != 3 * width * height:
        raise ProtocolError(
            f"worker protocol: a {width}x{height} preview of {len(rgb)} bytes, "
            f"expected {3 * width * height}"
        )
    return Preview(width, height, rgb)


# ---- a job on the wire -------------------------------------------------------------------------
# Each field of Job and the JSON types its value may have on the wire, from its annotation: a
# field of a type not listed here stops the import (teach `job_to_wire` and this table first).
_WIRE_TYPES: dict[str, type] = {
    "int": int,
    "str": str,
    "bool": bool,
    "float": float,
    "None": type(None),
    "datetime": str,
    "GenerationRequest": dict,
    "TrainingSpec": dict,
    "dict[str, Any]": dict,
}
_JOB_FIELDS = {
    field.name: tuple(_WIRE_TYPES[part] for part in str(field.type).split(" | "))
    for field in dataclasses.fields(Job)
}
_JOB_TIMES = {field.name: "datetime" in str(field.type) for field in dataclasses.fields(Job)}


def job_to_wire(job: Job) -> dict[str, Any]:
    """Every field of `job`, as JSON values: its work (request or spec) as `to_dict`, times in
    ISO 8601."""
    wire: dict[str, Any] = {}
    for name in _JOB_FIELDS:
        value = getattr(job, name)
        if isinstance(value, GenerationRequest | TrainingSpec):
            value = value.to_dict()
        elif isinstance(value, datetime):
            value = value.isoformat()
        wire[name] = value
    return wire


def job_from_wire(wire: dict[str, Any]) -> Job:
    """The inverse of `job_to_wire`."""
    missing = sorted(set(_JOB_FIELDS) - set(wire))
    unknown = sorted(set(wire) - set(_JOB_FIELDS))
    if missing or unknown:
        raise ProtocolError(
            f"worker protocol: a job with missing fields {missing} and unknown fields {unknown}"
        )
    values: dict[str, Any] = {}
    for name, types in _JOB_FIELDS.items():
        value = wire[name]
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            expected = " or ".join(t.__name__ for t in types)
            raise ProtocolError(
                f"worker protocol: a job's {name!r} should be {expected}, "
                f"not {type(value).__name__}"
            )
        if name == "work" and isinstance(value, dict):
            value = work_from_json(str(wire["kind"]), json.dumps(value))
        elif isinstance(value, str) and _JOB_TIMES.get(name):
            value = datetime.fromisoformat(value)
        values[name] = value
    return Job(**values)


def _clip(line: str, limit: int = 120) -> str:
    line = line.rstrip("\n")
    return repr(line if len(line) <= limit else line[:limit] + "...")
