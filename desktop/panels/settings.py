"""The settings dialog: device, dtype, memory savers, threads, model folders, output folder,
library home, and "Run on cluster" (the queue on a Ray cluster; refused, saying how to install
Ray, where it is not installed)."""

from __future__ import annotations

from dataclasses import replace

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
    QListWidget,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from core.queue.cluster.pool import ray_missing
from core.request import DEVICES, DTYPES
from desktop.settings import Preferences

AUTO = "auto"


class SettingsDialog(QDialog):
    def __init__(self, prefs: Preferences, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Atelier settings")
        self._prefs = prefs
        self.device = _combo([AUTO, *DEVICES], prefs.device or AUTO)
        self.dtype = _combo([AUTO, *DTYPES], prefs.dtype or AUTO)
        self.attention_slicing = _check("attention slicing", prefs.attention_slicing)
        self.vae_tiling = _check("VAE tiling", prefs.vae_tiling)
        self.cpu_offload = _check("CPU offload", prefs.cpu_offload)
        self.threads = QSpinBox()
        self.threads.setRange(0, 256)
        self.threads.setSpecialValueText(AUTO)
        self.threads.setValue(prefs.threads)
        self.threads.setToolTip(
            "auto: one torch thread below 256x256 pixels on the CPU, else torch's own count"
        )
        self.output_folder = QLineEdit(prefs.output_folder)
        self.output_folder.setPlaceholderText("(only the library's store)")
        self.library_home = QLineEdit(prefs.library_home)
        self.library_home.setPlaceholderText("(the default; takes effect at the next start)")
        form = QFormLayout(self)
        form.addRow("Device", self.device)
        form.addRow("Dtype", self.dtype)
        form.addRow("Memory savers", self.attention_slicing)
        form.addRow("", self.vae_tiling)
        form.addRow("", self.cpu_offload)
        form.addRow("Threads", self.threads)
        self.model_folders = QListWidget()
        self.model_folders.addItems(prefs.model_folders)
        self.model_folders.setMaximumHeight(90)
        form.addRow("Model folders", self._folders_box())
        form.addRow("Output folder", self.output_folder)
        form.addRow("Library home", self.library_home)
        form.addRow("Cluster", self._cluster_box(prefs))
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def _folders_box(self) -> QWidget:
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.model_folders)
        row = QHBoxLayout()
        for text, slot in (("Add...", self.choose_model_folder), ("Remove", self.remove_folder)):
            button = QPushButton(text)
            button.clicked.connect(slot)
            row.addWidget(button)
        layout.addLayout(row)
        return box

    def _cluster_box(self, prefs: Preferences) -> QWidget:
        self.cluster = _check("Run on cluster", prefs.cluster)
        self.cluster.setToolTip(
            "run the queue's generation jobs on a Ray cluster, this machine being its head "
            "(docs/cluster.md); training jobs wait for a local worker"
        )
        self.cluster_address = QLineEdit(prefs.cluster_address)
        self.cluster_address.setPlaceholderText(
            "(the cluster `ray start` left on this machine; local: a Ray of its own)"
        )
        self.cluster_note = QLabel()
        self.cluster_note.setWordWrap(True)
        self.cluster.toggled.connect(self.cluster_address.setEnabled)
        self.cluster_address.setEnabled(prefs.cluster)
        self.ray_missing = ray_missing()
        if self.ray_missing is not None:  # refused: off, and saying how to get Ray
            self.cluster.setChecked(False)
            self.cluster.setEnabled(False)
            self.cluster_address.setEnabled(False)
            self.cluster_note.setText(self.ray_missing)
        self.cluster_note.setVisible(self.ray_missing is not None)
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.cluster)
        layout.addWidget(self.cluster_address)
        layout.addWidget(self.cluster_note)
        return box

    def choose_model_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a model folder")
        if folder:
            self.add_model_folder(folder)

    def add_model_folder(self, folder: str) -> None:
        if folder not in self.folders():
            self.model_folders.addItem(folder)

    def remove_folder(self) -> None:
        row = self.model_folders.currentRow()
        if row >= 0:
            self.model_folders.takeItem(row)

    def folders(self) -> list[str]:
        return [self.model_folders.item(i).text() for i in range(self.model_folders.count())]

    def preferences(self) -> Preferences:
        device, dtype = self.device.currentText(), self.dtype.currentText()
        return replace(
            self._prefs,
            device="" if device == AUTO else device,
            dtype="" if dtype == AUTO else dtype,
            attention_slicing=self.attention_slicing.isChecked(),
            vae_tiling=self.vae_tiling.isChecked(),
            cpu_offload=self.cpu_offload.isChecked(),
            threads=self.threads.value(),
            output_folder=self.output_folder.text().strip(),
            library_home=self.library_home.text().strip(),
            model_folders=self.folders(),
            cluster=self.cluster.isChecked(),
            cluster_address=self.cluster_address.text().strip(),
        )


def _combo(items: list[str], current: str) -> QComboBox:
    box = QComboBox()
    box.addItems(items)
    box.setCurrentText(current)
    return box


def _check(text: str, on: bool) -> QCheckBox:
    box = QCheckBox(text)
    box.setChecked(on)
    return box
