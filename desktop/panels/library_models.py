"""The library dock's Models tab: the model variants, adding one (as `atelier models add`: a
file, a folder, or a hub id from the local Hugging Face cache) and verifying its weights.
Both read every weight byte, so they run in a pool thread."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Signal, Slot
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QInputDialog,
    QMenu,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop.background import run_in_background

if TYPE_CHECKING:
    from core.library import Library
    from desktop.session import Session

WEIGHTS_FILTER = "Weights (*.safetensors *.ckpt *.bin);;All files (*)"


class ModelsTab(QWidget):
    message = Signal(str)
    modelsChanged = Signal()
    verified = Signal(str, bool)  # name, weights match the stored fingerprint

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.busy: set[str] = set()  # names being added or verified
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Name", "Kind", "Fingerprint"])
        self.tree.setRootIsDecorated(False)
        buttons = QHBoxLayout()
        add = QPushButton("Add model")  # a menu: the row stays narrow enough for 1280 px
        menu = QMenu(add)
        for text, slot in (
            ("File (.safetensors)...", self.add_file_dialog),
            ("Folder (diffusers)...", self.add_folder_dialog),
            ("Hub id from the local cache...", self.add_hub_dialog),
            ("From Hugging Face...", self.download_dialog),
        ):
            action = QAction(text, menu)
            action.triggered.connect(slot)
            menu.addAction(action)
        add.setMenu(menu)
        verify = QPushButton("Verify")
        verify.clicked.connect(self.verify_selected)
        buttons.addWidget(add)
        buttons.addWidget(verify)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.tree, 1)
        layout.addLayout(buttons)

    def reload(self, variants: list[Any]) -> None:
        self.tree.clear()
        for v in variants:
            item = QTreeWidgetItem([v.name, v.kind, (v.fingerprint or "")[:12]])
            item.setToolTip(0, v.location)
            self.tree.addTopLevelItem(item)

    def names(self) -> list[str]:
        items = (self.tree.topLevelItem(i) for i in range(self.tree.topLevelItemCount()))
        return [item.text(0) for item in items if item is not None]

    # ---- adding ------------------------------------------------------------------------
    def _start_folder(self) -> str:
        folders = self.session.prefs.model_folders
        return folders[0] if folders else ""

    @Slot()
    def add_file_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Add a model file", self._start_folder(), WEIGHTS_FILTER
        )
        if path:
            self._ask_name(path)

    @Slot()
    def add_folder_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Add a model folder", self._start_folder())
        if path:
            self._ask_name(path)

    @Slot()
    def add_hub_dialog(self) -> None:
        """A hub id (org/name or org/name@revision), read from the local cache only."""
        hub_id, ok = QInputDialog.getText(
            self, "Add a model by hub id", "Hub id (org/name or org/name@revision):"
        )
        hub_id = hub_id.strip()
        if not ok or not hub_id:
            return
        if "/" not in hub_id:
            self.message.emit(f"{hub_id}: not a hub id (expected org/name or org/name@revision)")
            return
        self._ask_name(hub_id, hub_name(hub_id))

    @Slot()
    def download_dialog(self) -> QDialog:
        """Download a model from the hub (progress, cancel), then add it."""
        from desktop.hub_dialog import HubDownloadDialog

        dialog = HubDownloadDialog(self.session.library, self)
        dialog.added.connect(lambda text: self._done("", text, changed=True))
        dialog.open()
        return dialog

    def _ask_name(self, path: str, suggested: str | None = None) -> None:
        if suggested is None:
            suggested = Path(path).stem
        name, ok = QInputDialog.getText(self, "Model name", "Name:", text=suggested)
        if ok and name.strip():
            self.add_model(path, name.strip())

    def add_model(self, path: str, name: str) -> None:
        """Register the weights at `path` as `name` (fingerprinting off the GUI thread)."""
        if name in self.busy:
            self.message.emit(f"{name}: already being added or verified")
            return
        self.busy.add(name)
        self.message.emit(f"adding {name}: reading the weights...")
        library = self.session.library
        run_in_background(
            lambda: add_variant(library, path, name),
            lambda text: self._done(name, text, changed=True),
            lambda error: self._done(name, f"could not add {name}: {error}"),
        )

    # ---- verifying ---------------------------------------------------------------------
    @Slot()
    def verify_selected(self) -> None:
        item = self.tree.currentItem()
        if item is None:
            self.message.emit("choose a model to verify")
            return
        self.verify(item.text(0))

    def verify(self, name: str) -> None:
        if name in self.busy:
            return
        self.busy.add(name)
        self.message.emit(f"verifying {name}: reading the weights...")
        library = self.session.library
        run_in_background(
            lambda: verify_variant(library, name),
            lambda result: self._verified(name, *result),
            lambda error: self._done(name, f"could not verify {name}: {error}"),
        )

    def _verified(self, name: str, ok: bool, text: str) -> None:
        self._done(name, text)
        self.verified.emit(name, ok)

    def _done(self, name: str, text: str, changed: bool = False) -> None:
        self.busy.discard(name)
        self.message.emit(text)
        if changed:
            self.modelsChanged.emit()


def hub_name(hub_id: str) -> str:
    """The name suggested for a hub id: "org/some-model@rev" -> "some-model"."""
    return hub_id.split("@", 1)[0].rstrip("/").rsplit("/", 1)[-1]


def add_variant(library: Library, path: str, name: str) -> str:
    """What `atelier models add PATH --name NAME` does; in a pool thread."""
    from core.models import variants

    variant = variants.add_variant(library, path, name)
    return f"added {name}: {variant.kind}, fingerprint {str(variant.fingerprint)[:12]}"


def verify_variant(library: Library, name: str) -> tuple[bool, str]:
    """What `atelier models verify NAME` does (no cache: every byte read again)."""
    from core.models import variants

    result = variants.verify_variant(library, name)
    if result.ok:
        return True, f"{name}: ok, the weights match fingerprint {result.fingerprint[:12]}"
    changed = ", ".join(result.changed_components) or "the weights file"
    return False, (
        f"{name}: CHANGED, fingerprint {result.fingerprint[:12]} "
        f"(recorded {str(result.recorded)[:12]}); changed: {changed}"
    )
