"""A text progress bar on stderr for long work (no dependency, safe without a terminal)."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, TextIO

from core.engine.runner import StepProgress

if TYPE_CHECKING:
    from core.training.loop import TrainingProgress


class ProgressBar:
    def __init__(self, label: str, stream: TextIO | None = None, width: int = 30) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.width = width
        self.tty = self.stream.isatty()
        self._last = 0.0

    def __call__(self, event: StepProgress) -> None:
        done = event.call * event.steps + event.step
        total = event.calls * event.steps
        last = event.step == event.steps and event.call == event.calls - 1
        now = time.monotonic()
        if not last and not self.tty and now - self._last < 2.0:
            return  # in logs, a line every two seconds is enough
        self._last = now
        filled = int(self.width * done / max(total, 1))
        bar = "#" * filled + "-" * (self.width - filled)
        phase = "" if event.phase == "base" else f" {event.phase}"
        text = f"{self.label} [{bar}] step {event.step}/{event.steps}{phase}"
        if event.calls > 1:
            text += f" image {event.call + 1}/{event.calls}"
        end = "\n" if (last or not self.tty) else ""
        self.stream.write(("\r" if self.tty else "") + text + end)
        self.stream.flush()


class TrainingLine:
    """`train lora star step 40/300  loss 0.0312  9.80 it/s  ETA 0:27` on stderr: in place on a
    terminal, a line every two seconds in a log."""

    def __init__(self, label: str, stream: TextIO | None = None) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self._last = 0.0

    def __call__(self, p: TrainingProgress) -> None:
        now = time.monotonic()
        done = p.step == p.total
        if not done and now - self._last < (0.2 if self.tty else 2.0):
            return
        self._last = now
        end = "\n" if (done or not self.tty) else ""
        self.stream.write(("\r" if self.tty else "") + f"{self.label} {p.line()}" + end)
        self.stream.flush()
