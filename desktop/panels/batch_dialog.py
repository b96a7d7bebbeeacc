"""The folder batch dialog: which folder, which task and model, where the outputs go, watch.

The generate panel's request is the template (steps, cfg, seed, size...); the dialog sets the
task, model and prompt on it, and `spec()` builds the core's `BatchSpec` (checked).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QWidget,
)

from core.errors import BadInput
from core.queue.batch import BATCH_TASKS, PROMPT_SOURCES, BatchSpec
from core.request import GenerationRequest
from desktop.panels.fields import INVALID_STYLE
from desktop.panels.generate import DEMO_FOR_TASK

NO_PROMPT_SOURCE = "none (the prompt above)"


class FolderBatchDialog(QDialog):
    def __init__(
        self,
        template: GenerationRequest,
        models: list[str],
        output_folder: str = "",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Folder batch")
        self.template = template
        self.input_dir = _folder_edit("the images to process")
        self.task = QComboBox()
        self.task.addItems(list(BATCH_TASKS))
        self.model = QComboBox()
        self.model.setEditable(True)
        self.model.addItems(models)
        self.model.setCurrentText(template.model)
        self.task.setCurrentText(template.task if template.task in BATCH_TASKS else "img2img")
        self.task.currentTextChanged.connect(self._task_changed)
        self._task_changed(self.task.currentText())
        self.prompt = QLineEdit(template.prompt)
        self.pattern = QLineEdit("*")
        self.masks_dir = _folder_edit("(none) masks paired by file stem")
        self.depth_dir = _folder_edit("(none) depth maps paired by file stem")
        self.prompt_from = QComboBox()
        self.prompt_from.addItems([NO_PROMPT_SOURCE, *PROMPT_SOURCES])
        self.out_dir = _folder_edit("where the outputs are written")
        self.out_dir.setText(output_folder)
        self.watch = QCheckBox("keep watching the folder for new images")
        self.error = QLabel()
        self.error.setStyleSheet("color: #d9534f;")
        self.error.setWordWrap(True)
        self._fields: dict[str, QWidget] = {
            "input": self.input_dir, "task": self.task, "masks": self.masks_dir,
            "depth-maps": self.depth_dir, "prompt-from": self.prompt_from,
            "output": self.out_dir, "model": self.model, "prompt": self.prompt,
            "pattern": self.pattern,
        }  # fmt: skip
        form = QFormLayout(self)
        for label, widget in (
            ("Input folder", _with_browse(self, self.input_dir)), ("Task", self.task),
            ("Model", self.model), ("Prompt", self.prompt), ("Files (glob)", self.pattern),
            ("Mask folder", _with_browse(self, self.masks_dir)),
            ("Depth-map folder", _with_browse(self, self.depth_dir)),
            ("Prompt from", self.prompt_from), ("Output folder", _with_browse(self, self.out_dir)),
            ("", self.watch),
        ):  # fmt: skip
            form.addRow(label, widget)
        form.addRow(self.error)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self._ok)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    @Slot(str)
    def _task_changed(self, task: str) -> None:
        demo = DEMO_FOR_TASK.get(task)
        if demo and self.model.currentText().startswith("demo:"):
            self.model.setCurrentText(demo)

    def spec(self, project: str = "default") -> BatchSpec:
        """The batch the fields describe; BadInput (naming the field) when they cannot work."""
        if not self.input_dir.text().strip():
            raise BadInput("input", "choose the input folder")
        if not self.out_dir.text().strip():
            raise BadInput("output", "choose the output folder")
        prompt_from = self.prompt_from.currentText()
        template = self.template.replace(
            task=self.task.currentText(),
            model=self.model.currentText().strip(),
            prompt=self.prompt.text(),
            init_image=None,
            mask=None,
        )
        spec = BatchSpec(
            input_dir=_path(self.input_dir) or Path(),
            template=template,
            out_dir=_path(self.out_dir) or Path(),
            pattern=self.pattern.text().strip() or "*",
            masks_dir=_path(self.masks_dir),
            depth_dir=_path(self.depth_dir),
            prompt_from=None if prompt_from == NO_PROMPT_SOURCE else prompt_from,
            project=project,
            watch=self.watch.isChecked(),
        )
        spec.check()
        return spec

    def mark_invalid(self, field: str, message: str) -> None:
        for widget in self._fields.values():
            widget.setStyleSheet("")
        marked = self._fields.get(field)
        if marked is not None:
            marked.setStyleSheet(INVALID_STYLE)
        self.error.setText(message)

    @Slot()
    def _ok(self) -> None:
        try:
            self.spec()
        except BadInput as exc:
            self.mark_invalid(exc.field, str(exc))
            return
        self.accept()


def _folder_edit(placeholder: str) -> QLineEdit:
    edit = QLineEdit()
    edit.setPlaceholderText(placeholder)
    return edit


def _path(edit: QLineEdit) -> Path | None:
    text = edit.text().strip()
    return Path(text).expanduser() if text else None


def _with_browse(dialog: QDialog, edit: QLineEdit) -> QWidget:
    row = QWidget()
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(edit, 1)
    browse = QPushButton("...")
    browse.setFixedWidth(32)

    def choose() -> None:
        folder = QFileDialog.getExistingDirectory(dialog, "Choose a folder", edit.text())
        if folder:
            edit.setText(folder)

    browse.clicked.connect(choose)
    layout.addWidget(browse)
    return row
