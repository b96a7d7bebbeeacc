"""Folder batches started from the window: the first scan, then (watch) a scan every second.

A scan only lists files and inserts job rows, so it runs in the GUI thread from a QTimer;
nothing here touches torch or reads image pixels.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer, Signal, Slot

if TYPE_CHECKING:
    from core.queue.batch import BatchSpec, FolderBatch
    from core.queue.jobs import Job
    from desktop.session import Session

WATCH_MS = 1000


class FolderBatches(QObject):
    queued = Signal(list)  # new jobs
    message = Signal(str)
    watchingChanged = Signal(int)  # how many folders are watched now

    def __init__(self, session: Session, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.watched: list[FolderBatch] = []
        self.timer = QTimer(self)
        self.timer.setInterval(WATCH_MS)
        self.timer.timeout.connect(self.scan_watched)

    def start(self, spec: BatchSpec) -> list[Job]:
        """Open the batch (BadInput when it cannot work), queue its images, maybe watch it."""
        from core.queue.batch import FolderBatch

        spec = _with_preferences(spec, self.session)
        batch = FolderBatch.open(self.session.library, spec)
        jobs = batch.scan()
        if jobs:
            self.session.wake_worker()
        self.message.emit(f"{len(jobs)} jobs queued from {spec.input_dir}")
        if jobs:
            self.queued.emit(jobs)
        if spec.watch:
            self.watched.append(batch)
            self.timer.start()
            self.watchingChanged.emit(len(self.watched))
        return jobs

    @Slot()
    def scan_watched(self) -> None:
        for batch in list(self.watched):
            try:
                jobs = batch.scan(settle=True)
            except Exception as exc:  # the folder went away, or a busy database: next tick
                self.message.emit(f"watching {batch.spec.input_dir}: {exc}")
                continue
            if jobs:
                self.session.wake_worker()
                self.message.emit(f"{len(jobs)} new image(s) queued from {batch.spec.input_dir}")
                self.queued.emit(jobs)

    @Slot()
    def stop_watching(self) -> None:
        was = len(self.watched)
        self.timer.stop()
        self.watched.clear()
        if was:
            self.message.emit(f"stopped watching {was} folder(s)")
            self.watchingChanged.emit(0)


def _with_preferences(spec: BatchSpec, session: Session) -> BatchSpec:
    """The preferences' device options on the template; their output folder is not used (the
    batch names its own)."""
    from dataclasses import replace

    template = spec.template.replace(**session.prefs.request_changes())
    return replace(spec, template=template)
