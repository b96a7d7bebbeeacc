"""The library dock: saved prompts (favourites first), seeds, masks and the model variants."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QHBoxLayout,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from desktop.panels.library_items import MasksTab, SeedsTab
from desktop.panels.library_models import ModelsTab

if TYPE_CHECKING:
    from core.library.entities import Prompt
    from desktop.session import Session

STAR = "\u2605 "


class LibraryPanel(QWidget):
    usePrompt = Signal(str, str)  # prompt, negative
    saveCurrentRequested = Signal()
    message = Signal(str)

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.prompts = QListWidget()
        self.prompts.itemDoubleClicked.connect(self._use)
        self.seeds = SeedsTab(session)
        self.masks = MasksTab(session)
        self.models = ModelsTab(session)
        for tab in (self.seeds, self.masks, self.models):
            tab.message.connect(self.message)
        self.models.modelsChanged.connect(self.reload)
        save = QPushButton("Save current")
        save.clicked.connect(self.saveCurrentRequested)
        favourite = QPushButton("Favourite")
        favourite.clicked.connect(self.toggle_favourite)
        buttons = QHBoxLayout()
        buttons.addWidget(save)
        buttons.addWidget(favourite)
        prompts_tab = QWidget()
        prompts_layout = QVBoxLayout(prompts_tab)
        prompts_layout.setContentsMargins(0, 0, 0, 0)
        prompts_layout.addWidget(self.prompts, 1)
        prompts_layout.addLayout(buttons)
        tabs = QTabWidget()
        tabs.addTab(prompts_tab, "Prompts")
        tabs.addTab(self.seeds, "Seeds")
        tabs.addTab(self.masks, "Masks")
        tabs.addTab(self.models, "Models")
        self.tabs = tabs
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(tabs)
        self.reload()

    def reload(self) -> None:
        library = self.session.library
        try:
            prompts = library.prompts.list(limit=500)
            variants = library.models.list()
        except Exception as exc:
            self.message.emit(f"library not readable now: {exc}")
            return
        self.prompts.clear()
        for prompt in sorted(prompts, key=lambda p: not p.favourite):
            self.prompts.addItem(_prompt_item(prompt))
        self.models.reload(variants)
        self.seeds.reload()
        self.masks.reload()

    def save_prompt(self, text: str, negative: str) -> None:
        if not text.strip():
            self.message.emit("nothing to save: the prompt is empty")
            return
        try:
            self.session.library.prompts.add(text, negative=negative)
        except Exception as exc:
            self.message.emit(f"could not save the prompt: {exc}")
            return
        self.reload()
        self.message.emit("prompt saved")

    @Slot()
    def toggle_favourite(self) -> None:
        item = self.prompts.currentItem()
        if item is None:
            return
        prompt: Prompt = item.data(Qt.ItemDataRole.UserRole)
        try:
            self.session.library.prompts.set_favourite(prompt.id, not prompt.favourite)
        except Exception as exc:
            self.message.emit(str(exc))
        self.reload()

    @Slot(QListWidgetItem)
    def _use(self, item: QListWidgetItem) -> None:
        prompt: Prompt = item.data(Qt.ItemDataRole.UserRole)
        self.usePrompt.emit(prompt.text, prompt.negative)


def _prompt_item(prompt: Prompt) -> QListWidgetItem:
    item = QListWidgetItem((STAR if prompt.favourite else "") + prompt.text[:120])
    item.setData(Qt.ItemDataRole.UserRole, prompt)
    item.setToolTip(prompt.text + (f"\n\nnegative: {prompt.negative}" if prompt.negative else ""))
    return item
