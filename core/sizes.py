"""A requested size against the model's native (trained) size: above twice it, a warning (the
model repeats and distorts its subject, and the work grows with the pixels); above sixteen
times its pixels, an error: one step at 2048x2048 on a 64 px model took 142 s and memory
grows with the square of the pixels (attention)."""

from __future__ import annotations

from core.errors import BadInput

WARN_SIDE = 2  # per side
REFUSE_PIXELS = 16  # times the native size's pixels (4x per side)


def native_size(model: str, kind: str | None = None) -> int | None:
    """The size a model was trained at: a demo model's own, else its kind's; None if unknown."""
    from core.models.demo import DEMO_MODELS, demo_defaults
    from core.models.resolve import kind_size

    if model in DEMO_MODELS:
        width = demo_defaults(model).get("width")
        return int(width) if width else None
    return kind_size(kind) if kind else None


def check_size(width: int | None, height: int | None, native: int | None) -> str | None:
    """None when fine, a warning text above 2x; BadInput("width") past the memory limit."""
    if native is None or not (width or height):
        return None
    w, h = width or native, height or native
    if w * h > REFUSE_PIXELS * native * native:
        side = 4 * native
        raise BadInput(
            "width",
            f"{w}x{h} is more than 16 times the pixels of this model's native {native}x{native}"
            f" (a run would not survive in memory, or take hours); use at most about "
            f"{side}x{side}",
        )
    if max(w, h) > WARN_SIDE * native:
        return (
            f"{w}x{h} is over twice this model's native {native}x{native}: expect repeated "
            f"subjects and a slow run"
        )
    return None
