""" "Add model > From Hugging Face...": what `atelier models download` does, in a dialog with a
progress bar (bytes, speed, time left) and Cancel. The download runs in a pool thread; a
cancelled one keeps what arrived, and the next download of the same model continues it."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QVBoxLayout,
    QWidget,
)

from desktop.background import run_in_background

if TYPE_CHECKING:
    from core.library import Library


class HubDownloadDialog(QDialog):
    progressed = Signal(object)  # DownloadProgress, from the download's thread
    added = Signal(str)  # the message of a model added

    def __init__(self, library: Library, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Add a model from Hugging Face")
        self.library = library
        self.cancel = threading.Event()
        self.running = False
        self.repo = QLineEdit(placeholderText="org/name, e.g. stabilityai/sd-turbo")
        self.revision = QLineEdit(placeholderText="main")
        self.variant = QComboBox()
        self.variant.addItems(["full precision", "fp16"])
        self.name = QLineEdit(placeholderText="the repository's name")
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.status = QLabel("Only the files the pipeline needs are downloaded.")
        self.status.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Repository:", self.repo)
        form.addRow("Revision:", self.revision)
        form.addRow("Weights:", self.variant)
        form.addRow("Name:", self.name)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Download")
        self.buttons.accepted.connect(self.start)
        self.buttons.rejected.connect(self.stop_or_close)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.bar)
        layout.addWidget(self.status)
        layout.addWidget(self.buttons)
        self.progressed.connect(self.show_progress)

    @Slot()
    def start(self) -> None:
        repo = self.repo.text().strip()
        if repo.count("/") != 1:
            self.status.setText(f"{repo or 'Repository'}: expected org/name")
            return
        revision = self.revision.text().strip() or None
        variant = "fp16" if self.variant.currentIndex() == 1 else None
        name = self.name.text().strip() or repo.rsplit("/", 1)[-1]
        self.cancel.clear()
        self.running = True
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(False)
        self.status.setText(f"asking the hub about {repo}...")
        library, cancel, emit = self.library, self.cancel, self.progressed.emit
        run_in_background(
            lambda: download_and_add(library, repo, revision, variant, name, emit, cancel),
            self.finished_ok,
            self.failed,
        )

    @Slot(object)
    def show_progress(self, event: Any) -> None:
        if event.total_bytes:
            self.bar.setValue(int(1000 * event.done_bytes / event.total_bytes))
        self.status.setText(event.describe())

    @Slot()
    def stop_or_close(self) -> None:
        if self.running:
            self.cancel.set()  # the thread stops at its next block; failed() reports it
            self.status.setText("cancelling...")
        else:
            self.reject()

    def finished_ok(self, message: str) -> None:
        self.running = False
        self.added.emit(message)
        self.accept()

    def failed(self, message: str) -> None:
        self.running = False
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(True)
        self.status.setText(message)


def download_and_add(
    library: Library,
    repo: str,
    revision: str | None,
    variant: str | None,
    name: str,
    on_progress: Any,
    cancel: threading.Event,
) -> str:
    """In a pool thread: the download, then the variant added (its weights fingerprinted)."""
    from core.errors import BadInput
    from core.models.hub_download import download, plan_download
    from core.models.variants import add_variant

    if library.models.get(name) is not None:
        raise BadInput("name", f"a model variant named {name!r} already exists")
    plan = plan_download(repo, revision, variant=variant)
    download(plan, on_progress=on_progress, cancel=cancel)
    added = add_variant(library, repo, name, revision=revision)
    return f"added {name}: {added.kind}, fingerprint {str(added.fingerprint)[:12]}"
