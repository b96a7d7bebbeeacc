"""Reproduce a training run: train its recorded spec again and compare the weights' fingerprint.

The run's record holds the resolved spec (seed, thread count, device included), the base
model's fingerprint and every instance image's sha256 and caption. Before any training, the
inputs are checked against it: an image changed, gone or added, a caption changed, or other base
weights is a BadInput naming the file (the weights could not match). Then the spec is trained
again from its first step into a temporary folder (`core.training.run.retrain`: nothing is
registered, the library's variant is not touched) and the new file's fingerprint is compared
with the variant's recorded one: `match` or `mismatch`, with the recorded environment fields
that differ from now (a torch version, a CPU) as the likely reasons.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import BadInput

if TYPE_CHECKING:
    from core.library import Library
    from core.library.training_runs import TrainingRun
    from core.training.loop import TrainingProgress
    from core.training.run import Prepared


@dataclass
class TrainingReproduction:
    run_id: int
    variant: str
    method: str
    status: str  # "match" | "mismatch"
    recorded_fingerprint: str
    fingerprint: str
    differences: list[tuple[str, Any, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "training_run": self.run_id,
            "variant": self.variant,
            "method": self.method,
            "status": self.status,
            "recorded_fingerprint": self.recorded_fingerprint,
            "fingerprint": self.fingerprint,
            "differences": [
                {"field": name, "recorded": old, "current": new}
                for name, old, new in self.differences
            ],
            "notes": list(self.notes),
            "seconds": self.seconds,
        }


def find_training_run(library: Library, ref: str) -> TrainingRun:
    """A training run by its id, or the newest run that made the variant called `ref`."""
    run = library.training_runs.get(int(ref)) if ref.isdigit() else None
    if run is None:
        run = library.training_runs.for_variant(ref)
    if run is None:
        raise BadInput(
            "training_run",
            f"{ref!r}: no training run with this id, and no trained variant of this name "
            "(`atelier models list` shows each trained variant's run)",
        )
    return run


def reproduce_training(
    library: Library,
    run: TrainingRun,
    on_progress: Callable[[TrainingProgress], None] | None = None,
    on_note: Callable[[str], None] | None = None,
) -> TrainingReproduction:
    """Check the run's inputs, train it again and compare. BadInput (before any training) for
    an input that is not what was recorded."""
    from core.records import environment_differences
    from core.training.run import prepare, retrain
    from core.training.spec import TrainingSpec

    spec = TrainingSpec.from_dict(run.spec)
    prepared = prepare(spec, library, check_name=False)
    check_inputs(run, prepared)
    notes = []
    if prepared.spec.hash() != run.spec_hash:
        notes.append(f"the spec resolves differently now (hash {prepared.spec.hash()[:12]})")
    retrained = retrain(prepared, library, on_progress, on_note=on_note)
    record = retrained.record
    recorded_class = (run.record.get("class_images") or {}).get("sha256")
    current_class = (record.get("class_images") or {}).get("sha256")
    if recorded_class != current_class:
        notes.append("the class images differ from the recorded ones (made again differently)")
    differences = environment_differences(
        _comparable(run.record.get("environment", {})), _comparable(record["environment"])
    )
    status = "match" if retrained.fingerprint == run.variant_fingerprint else "mismatch"
    return TrainingReproduction(
        run_id=run.id,
        variant=run.variant_name,
        method=run.method,
        status=status,
        recorded_fingerprint=run.variant_fingerprint,
        fingerprint=retrained.fingerprint,
        differences=differences,
        notes=notes,
        seconds=float(record.get("seconds", 0.0)),
    )


def check_inputs(run: TrainingRun, prepared: Prepared) -> None:
    """The instance images, their captions and the base weights as the run recorded them."""
    label = f"training run {run.id}"
    recorded = {str(i["path"]): i for i in run.record.get("instance_images", [])}
    current = {image.path: image for image in prepared.images}
    for path, image in recorded.items():
        now = current.get(path)
        if now is None:
            raise BadInput("images", f"{path}: gone since {label} was trained")
        if now.sha256 != image["sha256"]:
            raise BadInput(
                "images",
                f"{path}: changed since {label} was trained (sha256 {str(image['sha256'])[:12]}"
                f" recorded, {now.sha256[:12]} now); the weights could not match",
            )
        if now.caption != image["caption"]:
            caption = Path(path).with_suffix(".txt")
            raise BadInput(
                "images",
                f"{caption}: the caption changed since {label} was trained "
                f"({image['caption']!r} recorded, {now.caption!r} now)",
            )
    added = sorted(set(current) - set(recorded))
    if added:
        raise BadInput("images", f"{added[0]}: not one of {label}'s images (added since)")
    if prepared.model.fingerprint != run.base_fingerprint:
        raise BadInput(
            "base",
            f"{prepared.model.name}: its weights changed since {label} was trained "
            f"(fingerprint {run.base_fingerprint[:12]} recorded, "
            f"{prepared.model.fingerprint[:12]} now)",
        )


def _comparable(environment: dict[str, Any]) -> dict[str, Any]:
    """The environment without what never decides weights (the machine's node name)."""
    return {k: v for k, v in environment.items() if k != "node"}
