"""A text progress bar on stderr for long work (no dependency, safe without a terminal)."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from core.engine.runner import StepProgress


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
