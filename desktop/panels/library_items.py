"""The library dock's Seeds and Masks tabs: lists from the library, double-click to use."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

if TYPE_CHECKING:
    from core.library.entities import Mask, Seed
    from desktop.session import Session

LIST_LIMIT = 500
ItemRole = Qt.ItemDataRole.UserRole


class _ListTab(QWidget):
    message = Signal(str)

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.list = QListWidget()
        self.list.itemDoubleClicked.connect(self._use)
        self.buttons = QHBoxLayout()
        remove = QPushButton("Remove")
        remove.clicked.connect(self.remove_selected)
        self.buttons.addWidget(remove)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.list, 1)
        layout.addLayout(self.buttons)

    def _fill(self, entries: list[Any], text: Any) -> None:
        self.list.clear()
        for entry in entries:
            item = QListWidgetItem(text(entry))
            item.setData(ItemRole, entry)
            self.list.addItem(item)

    def selected(self) -> Any:
        item = self.list.currentItem()
        return None if item is None else item.data(ItemRole)

    def _remove(self, repository: Any) -> None:
        entry = self.selected()
        if entry is None:
            return
        try:
            repository.remove(entry.id)
        except Exception as exc:
            self.message.emit(str(exc))
        self.reload()

    def reload(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    @Slot()
    def remove_selected(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    @Slot(QListWidgetItem)
    def _use(self, item: QListWidgetItem) -> None:  # pragma: no cover - overridden
        raise NotImplementedError


class SeedsTab(_ListTab):
    useSeed = Signal(int)
    addCurrentRequested = Signal(str)  # the label

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(session, parent)
        self.label = QLineEdit()
        self.label.setPlaceholderText("label")
        add = QPushButton("Add current seed")
        add.clicked.connect(lambda: self.addCurrentRequested.emit(self.label.text().strip()))
        self.buttons.insertWidget(0, self.label, 1)
        self.buttons.insertWidget(1, add)

    def reload(self) -> None:
        try:
            seeds = self.session.library.seeds.list(limit=LIST_LIMIT)
        except Exception as exc:
            self.message.emit(f"seeds not readable now: {exc}")
            return
        self._fill(seeds, _seed_text)

    def add_seed(self, value: int, label: str = "") -> None:
        try:
            self.session.library.seeds.add(value, label)
        except Exception as exc:
            self.message.emit(f"could not save the seed: {exc}")
            return
        self.label.clear()
        self.reload()
        self.message.emit(f"seed {value} saved")

    @Slot()
    def remove_selected(self) -> None:
        self._remove(self.session.library.seeds)

    @Slot(QListWidgetItem)
    def _use(self, item: QListWidgetItem) -> None:
        seed: Seed = item.data(ItemRole)
        self.useSeed.emit(seed.value)


class MasksTab(_ListTab):
    useMask = Signal(str)  # sha256:HEX of the mask's asset

    def reload(self) -> None:
        try:
            masks = self.session.library.masks.list(limit=LIST_LIMIT)
        except Exception as exc:
            self.message.emit(f"masks not readable now: {exc}")
            return
        self._fill(masks, _mask_text)

    @Slot()
    def remove_selected(self) -> None:
        self._remove(self.session.library.masks)

    @Slot(QListWidgetItem)
    def _use(self, item: QListWidgetItem) -> None:
        mask: Mask = item.data(ItemRole)
        self.useMask.emit(f"sha256:{mask.asset_sha256}")


def _seed_text(seed: Seed) -> str:
    return f"{seed.value}" + (f"  {seed.label}" if seed.label else "")


def _mask_text(mask: Mask) -> str:
    label = f"  {mask.label}" if mask.label else ""
    return f"{mask.width}x{mask.height}  {mask.asset_sha256[:10]}{label}"
