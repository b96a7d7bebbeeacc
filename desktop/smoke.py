"""`atelier gui --smoke-test PNG`: queue a demo job through the window, wait, screenshot, exit."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEventLoop, QObject, QTimer, Slot
from PySide6.QtWidgets import QApplication

from desktop.main_window import MainWindow

TIMEOUT_S = 120
PROMPT = "a yellow star on a purple background"


class SmokeTest(QObject):
    def __init__(self, window: MainWindow, png: Path, batch_count: int = 4) -> None:
        super().__init__()
        self.window, self.png, self.batch_count = window, png, batch_count
        self.job_id: int | None = None
        self.failure: str | None = None
        self.outputs: list[Any] = []
        self._loop = QEventLoop()
        bridge = window.session.bridge
        bridge.jobDone.connect(self.on_done)
        bridge.jobFailed.connect(self.on_failed)
        bridge.jobCancelled.connect(self.on_cancelled)

    def run(self, app: QApplication) -> int:
        try:
            self._queue()
            if self.failure is None:
                QTimer.singleShot(TIMEOUT_S * 1000, self.on_timeout)
                self._loop.exec()
            if self.failure is None:
                self._finish(app)
        except Exception as exc:  # any failure is exit 1 with the reason
            self.failure = f"{type(exc).__name__}: {exc}"
        if self.failure is not None:
            print(f"atelier: smoke test failed: {self.failure}", file=sys.stderr)
            return 1
        print(f"smoke test: job {self.job_id} done; screenshot {self.png}")
        return 0

    def _queue(self) -> None:
        panel = self.window.generate
        panel.task.setCurrentText("text2img")
        panel.model.setCurrentText("demo:sd")
        panel.prompt.setPlainText(PROMPT)
        panel.negative.setPlainText("")
        panel.random_seed.setChecked(False)
        panel.seed.setValue(1234)
        panel.steps.setValue(20)  # demo:sd's default
        panel.batch_count.setValue(self.batch_count)
        jobs = panel.queue_jobs(1)
        if not jobs:
            self.failure = f"the generate panel refused the job: {panel.error.text()}"
            return
        self.job_id = jobs[0].id

    def _finish(self, app: QApplication) -> None:
        window = self.window
        window.history.refresh()
        first = min(o.output_id for o in self.outputs)
        if not window.history.select_output(first):
            raise RuntimeError(f"output {first} is not in the gallery")
        if window.inspector.output is None or window.inspector.output.id != first:
            raise RuntimeError("the inspector did not show the selected output")
        window.history.model.rowCount()
        for _ in range(50):  # let the thumbnails arrive
            app.processEvents()
            window.history.wait_for_thumbnails(100)
        app.processEvents()
        self.png.parent.mkdir(parents=True, exist_ok=True)
        if not window.grab().save(str(self.png)):
            raise RuntimeError(f"could not write {self.png}")

    @Slot(object, object)
    def on_done(self, job: Any, outputs: list[Any]) -> None:
        if job.id == self.job_id:
            self.outputs = outputs
            self._loop.quit()

    @Slot(object, str, str)
    def on_failed(self, job: Any, kind: str, message: str) -> None:
        if job.id == self.job_id:
            self.failure = f"job {job.id} failed: {kind}: {message}"
            self._loop.quit()

    @Slot(object)
    def on_cancelled(self, job: Any) -> None:
        if job.id == self.job_id:
            self.failure = f"job {job.id} was cancelled"
            self._loop.quit()

    @Slot()
    def on_timeout(self) -> None:
        if self._loop.isRunning():
            self.failure = f"no result within {TIMEOUT_S} s"
            self._loop.quit()
