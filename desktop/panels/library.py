"""The library dock: saved prompts (favourites first, with tags and a filter), seeds, masks,
the model variants and the projects."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from desktop.panels.library_items import MasksTab, SeedsTab
from desktop.panels.library_models import ModelsTab
from desktop.panels.library_projects import ProjectsTab

if TYPE_CHECKING:
    from core.library.entities import Prompt
    from desktop.session import Session

STAR = "\u2605 "
PROMPT_LIMIT = 500


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
        self.projects = ProjectsTab(session)
        for tab in (self.seeds, self.masks, self.models, self.projects):
            tab.message.connect(self.message)
        self.models.modelsChanged.connect(self.reload)
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("filter by text or tag...")
        self.filter.setClearButtonEnabled(True)
        self.filter.textChanged.connect(self.reload_prompts)
        self.tags = QLineEdit()
        self.tags.setPlaceholderText("tags, comma-separated")
        save = QPushButton("Save current")
        save.clicked.connect(self.saveCurrentRequested)
        favourite = QPushButton("Favourite")
        favourite.clicked.connect(self.toggle_favourite)
        buttons = QHBoxLayout()
        buttons.addWidget(self.tags, 1)
        buttons.addWidget(save)
        buttons.addWidget(favourite)
        prompts_tab = QWidget()
        prompts_layout = QVBoxLayout(prompts_tab)
        prompts_layout.setContentsMargins(0, 0, 0, 0)
        prompts_layout.addWidget(self.filter)
        prompts_layout.addWidget(self.prompts, 1)
        prompts_layout.addLayout(buttons)
        tabs = QTabWidget()
        tabs.addTab(prompts_tab, "Prompts")
        tabs.addTab(self.seeds, "Seeds")
        tabs.addTab(self.masks, "Masks")
        tabs.addTab(self.models, "Models")
        tabs.addTab(self.projects, "Projects")
        self.tabs = tabs
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(tabs)
        self.reload()

    def reload(self) -> None:
        try:
            variants = self.session.library.models.list()
        except Exception as exc:
            self.message.emit(f"library not readable now: {exc}")
            return
        self.reload_prompts()
        self.models.reload(variants)
        self.seeds.reload()
        self.masks.reload()
        self.projects.reload()

    @Slot()
    def reload_prompts(self) -> None:
        """The saved prompts, favourites first; with a filter, those matching its words (full
        text search) or having a tag that contains it."""
        try:
            prompts = self._matching(self.filter.text().strip())
        except Exception as exc:
            self.message.emit(f"prompts not readable now: {exc}")
            return
        self.prompts.clear()
        for prompt in sorted(prompts, key=lambda p: not p.favourite):
            self.prompts.addItem(_prompt_item(prompt))

    def _matching(self, query: str) -> list[Prompt]:
        repository = self.session.library.prompts
        if not query:
            return repository.list(limit=PROMPT_LIMIT)
        needle = query.casefold()
        by_tag = [
            p
            for p in repository.list(limit=PROMPT_LIMIT)
            if any(needle in tag.casefold() for tag in p.tags)
        ]
        by_text = repository.search(query, limit=PROMPT_LIMIT)
        unique = {p.id: p for p in [*by_text, *by_tag]}
        return list(unique.values())

    def save_prompt(self, text: str, negative: str, tags: str | None = None) -> None:
        """Save the prompt with the tags (comma-separated; None: the tags field's)."""
        if not text.strip():
            self.message.emit("nothing to save: the prompt is empty")
            return
        tag_list = parse_tags(self.tags.text() if tags is None else tags)
        try:
            self.session.library.prompts.add(text, negative=negative, tags=tag_list)
        except Exception as exc:
            self.message.emit(f"could not save the prompt: {exc}")
            return
        self.tags.clear()
        self.reload_prompts()
        self.message.emit("prompt saved" + (f" (tags: {', '.join(tag_list)})" if tag_list else ""))

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
        self.reload_prompts()

    @Slot(QListWidgetItem)
    def _use(self, item: QListWidgetItem) -> None:
        prompt: Prompt = item.data(Qt.ItemDataRole.UserRole)
        self.usePrompt.emit(prompt.text, prompt.negative)


def parse_tags(text: str) -> tuple[str, ...]:
    """Comma-separated tags, trimmed, no empties, each once: "a, b,, a" -> ("a", "b")."""
    return tuple(dict.fromkeys(t.strip() for t in text.split(",") if t.strip()))


def _prompt_item(prompt: Prompt) -> QListWidgetItem:
    tags = f"  [{', '.join(prompt.tags)}]" if prompt.tags else ""
    item = QListWidgetItem((STAR if prompt.favourite else "") + prompt.text[:120] + tags)
    item.setData(Qt.ItemDataRole.UserRole, prompt)
    item.setToolTip(
        prompt.text
        + (f"\n\nnegative: {prompt.negative}" if prompt.negative else "")
        + (f"\n\ntags: {', '.join(prompt.tags)}" if prompt.tags else "")
    )
    return item
