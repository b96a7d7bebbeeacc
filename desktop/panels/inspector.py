"""The inspector: one output's parameters, environment and lineage, and what to do with it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, QUrl, Signal, Slot
from PySide6.QtGui import QDesktopServices, QGuiApplication, QPixmap
from PySide6.QtWidgets import (
    QGridLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from core.errors import BadInput
from core.provenance import ProvenanceRecord
from core.request import GenerationRequest
from desktop.background import run_in_background
from desktop.elided_label import ElidedLabel

if TYPE_CHECKING:
    from core.library.entities import Output
    from core.reproduce import ReproduceReport
    from desktop.session import Session

IMAGE_PX = 128  # a reminder of which output this is; the gallery shows it large
SEND_TASKS = ("img2img", "inpaint", "upscale", "depth")
SHOWN_FIELDS = (
    "task", "model", "prompt", "negative_prompt", "seed", "steps", "cfg_scale", "scheduler",
    "width", "height", "init_image", "mask", "strength", "noise_level", "refiner",
    "high_noise_frac", "batch_count", "device", "dtype", "threads",
)  # fmt: skip


class InspectorPanel(QWidget):
    useSettings = Signal(object)  # GenerationRequest
    sendTo = Signal(str, str)  # task, "output:ID"
    showOutput = Signal(int)
    queued = Signal(list)
    message = Signal(str)
    reproduced = Signal(object)  # ReproduceReport

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.output: Output | None = None
        self.record: ProvenanceRecord | None = None  # None: no readable Atelier record
        self.image = QLabel()
        self.image.setFixedSize(IMAGE_PX, IMAGE_PX)
        self.image.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.image.setStyleSheet("background: #222;")
        self.title = QLabel("select an output in the gallery")
        self.title.setWordWrap(True)
        self.file_name = ElidedLabel()  # a long file name elides; its tooltip has it all
        self.details = QPlainTextEdit()
        self.details.setReadOnly(True)
        self.lineage = QLabel()
        self.lineage.setTextFormat(Qt.TextFormat.RichText)
        self.lineage.setWordWrap(True)
        self.lineage.linkActivated.connect(self._lineage_clicked)
        self.verdict = QLabel()
        self.verdict.setWordWrap(True)
        self.buttons: dict[str, QPushButton] = {}
        grid = QGridLayout()
        actions: list[tuple[str, Any]] = [
            ("Re-run", self.rerun), ("Reproduce && verify", self.reproduce),
            ("Use these settings", self.use_settings), ("Copy parameters", self.copy_parameters),
            ("Open file location", self.open_location),
        ]  # fmt: skip
        actions += [(f"Send to {task}", self._sender(task)) for task in SEND_TASKS]
        for i, (text, slot) in enumerate(actions):
            button = QPushButton(text)
            button.clicked.connect(slot)
            button.setEnabled(False)
            self.buttons[text.replace("&&", "&")] = button
            grid.addWidget(button, i // 2, i % 2)
        layout = QVBoxLayout(self)
        layout.addWidget(self.image, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addWidget(self.title)
        layout.addWidget(self.file_name)
        layout.addWidget(self.lineage)
        layout.addWidget(self.details, 1)
        layout.addWidget(self.verdict)
        layout.addLayout(grid)

    # ---- showing -------------------------------------------------------------------------
    @Slot(int)
    def show_output(self, output_id: int) -> None:
        try:
            output = self.session.library.runs.get_output(output_id)
        except Exception as exc:
            self.message.emit(f"could not read output {output_id}: {exc}")
            return
        if output is None:
            self.message.emit(f"no output {output_id}")
            return
        self.output = output
        try:
            self.record = ProvenanceRecord.from_json(output.record_json)
        except BadInput:
            self.record = None  # a grid kept in the history, or a damaged record
        request = ProvenanceRecord.request_fields(output.record_json)
        self.title.setText(
            f"<b>Output #{output.id}</b> (run {output.run_id}, project {output.project})<br>"
            f"{output.created_at:%Y-%m-%d %H:%M:%S}"
        )
        self.file_name.setText(Path(output.path).name)
        self.file_name.setToolTip(output.path)
        self.details.setPlainText(_describe(request, self.record))
        self.lineage.setText(_lineage_html(output.parent_ids, output.child_ids))
        self.verdict.clear()
        pixmap = QPixmap(output.path)
        if not pixmap.isNull():
            self.image.setPixmap(
                pixmap.scaled(
                    self.image.size(),
                    Qt.AspectRatioMode.KeepAspectRatio,
                    Qt.TransformationMode.FastTransformation,
                )
            )
        for button in self.buttons.values():
            button.setEnabled(True)

    @Slot(list)
    def forget_outputs(self, output_ids: list[int]) -> None:
        """Outputs were deleted: clear the inspector if it showed one of them."""
        if self.output is None or self.output.id not in output_ids:
            return
        self.output, self.record = None, None
        self.title.setText("select an output in the gallery")
        self.file_name.setText("")
        for label in (self.image, self.lineage, self.verdict):
            label.clear()
        self.details.clear()
        for button in self.buttons.values():
            button.setEnabled(False)

    def recorded_request(self) -> GenerationRequest | None:
        if self.record is not None:
            return self.record.request
        # not a whole record (a grid, an older or damaged one): its request, if it has one
        data = ProvenanceRecord.request_fields(self.output.record_json) if self.output else {}
        if not data:
            self.message.emit("this output has no recorded request")
            return None
        try:
            return GenerationRequest.from_dict(data)
        except Exception as exc:
            self.message.emit(f"the recorded request cannot be read: {exc}")
            return None

    # ---- actions -------------------------------------------------------------------------
    @Slot()
    def rerun(self) -> None:
        request = self.recorded_request()
        if request is None or self.output is None:
            return
        try:
            jobs = self.session.queue(request, project=self.output.project, with_preferences=False)
        except Exception as exc:
            self.message.emit(f"could not queue the re-run: {exc}")
            return
        self.queued.emit(jobs)
        self.message.emit(f"re-run of output #{self.output.id} queued as job {jobs[0].id}")

    @Slot()
    def reproduce(self) -> None:
        if self.output is None:
            return
        output_id, session = self.output.id, self.session
        try:
            after = " after the running job" if session.worker_busy() else ""
        except Exception:  # a busy database: say less
            after = ""
        self.verdict.setText(f"reproducing output #{output_id}{after}...")
        self.buttons["Reproduce & verify"].setEnabled(False)
        run_in_background(
            lambda: session.reproduce(output_id),
            self._reproduced,
            self._reproduce_failed,
        )

    def _reproduced(self, report: ReproduceReport) -> None:
        self.buttons["Reproduce & verify"].setEnabled(True)
        self.verdict.setText(verdict_text(report))
        self.message.emit(f"output #{report.output_id}: {report.status}")
        self.reproduced.emit(report)

    def _reproduce_failed(self, message: str) -> None:
        self.buttons["Reproduce & verify"].setEnabled(True)
        self.verdict.setText(f"reproduce failed: {message}")
        self.message.emit(f"reproduce failed: {message}")

    @Slot()
    def use_settings(self) -> None:
        request = self.recorded_request()
        if request is not None:
            self.useSettings.emit(request)

    def _sender(self, task: str) -> Any:
        def send() -> None:
            if self.output is not None:
                self.sendTo.emit(task, f"output:{self.output.id}")

        return send

    @Slot()
    def copy_parameters(self) -> None:
        if self.output is None:
            return
        text = _parameters_text(self.output.path)
        if text is None:
            request = ProvenanceRecord.request_fields(self.output.record_json)
            text = json.dumps(request, indent=1, sort_keys=True)
        QGuiApplication.clipboard().setText(text)
        self.message.emit("parameters copied")

    @Slot()
    def open_location(self) -> None:
        if self.output is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(Path(self.output.path).parent)))

    @Slot(str)
    def _lineage_clicked(self, link: str) -> None:
        if link.startswith("output:"):
            self.showOutput.emit(int(link.split(":", 1)[1]))


def verdict_text(report: ReproduceReport) -> str:
    status = report.status
    if status == "exact":
        head = "<b style='color:#3c9a3c'>exact</b>: the same pixels"
    elif status == "close":
        head = f"<b style='color:#c9a227'>close</b>: PSNR {report.psnr:.1f} dB"
    else:
        head = f"<b style='color:#d9534f'>{status}</b>"
        if report.psnr is not None:
            head += f": PSNR {report.psnr:.1f} dB"
    lines = [head]
    lines += [f"{d.field}: {d.recorded!r} -> {d.current!r}" for d in report.differences[:12]]
    lines += report.notes[:5]
    return "<br>".join(lines)


def _describe(request: dict[str, Any], record: ProvenanceRecord | None) -> str:
    lines = [f"{name}: {request[name]}" for name in SHOWN_FIELDS if request.get(name) is not None]
    if record is None:
        return "\n".join(lines)
    lines.append(f"model fingerprint: {record.base.fingerprint[:16]}")
    lines.append("")
    lines.append(f"environment (record version {record.version}):")
    for key, value in sorted(record.environment.items()):
        lines.append(f"  {key}: {value}")
    return "\n".join(lines)


def _lineage_html(parents: tuple[int, ...], children: tuple[int, ...]) -> str:
    def links(ids: tuple[int, ...]) -> str:
        return ", ".join(f"<a href='output:{i}'>#{i}</a>" for i in ids) or "none"

    return f"parents: {links(parents)} &nbsp; children: {links(children)}"


def _parameters_text(path: str) -> str | None:
    try:
        from PIL import Image

        with Image.open(path) as image:
            text = getattr(image, "text", {}).get("parameters")
    except OSError:
        return None
    return text if isinstance(text, str) else None
