"""The library dock's Projects tab: each project with its output count, and a new one.
Double-clicking a project makes it the current one (the generate panel, the gallery filter)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import (
    QHBoxLayout,
    QInputDialog,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

if TYPE_CHECKING:
    from desktop.session import Session


class ProjectsTab(QWidget):
    message = Signal(str)
    useProject = Signal(str)  # the project's name
    projectsChanged = Signal()

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Project", "Outputs"])
        self.tree.setRootIsDecorated(False)
        self.tree.itemDoubleClicked.connect(self._use)
        buttons = QHBoxLayout()
        for text, slot in (("New project...", self.new_project_dialog), ("Use", self.use_selected)):
            button = QPushButton(text)
            button.clicked.connect(slot)
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.tree, 1)
        layout.addLayout(buttons)

    def reload(self) -> None:
        library = self.session.library
        try:
            projects = library.projects.list()
            rows = [(p.name, library.runs.count_outputs(project=p.name)) for p in projects]
        except Exception as exc:
            self.message.emit(f"projects not readable now: {exc}")
            return
        self.tree.clear()
        for name, count in rows:
            self.tree.addTopLevelItem(QTreeWidgetItem([name, str(count)]))

    def counts(self) -> dict[str, int]:
        """What the tab shows: project name -> output count."""
        items = (self.tree.topLevelItem(i) for i in range(self.tree.topLevelItemCount()))
        return {item.text(0): int(item.text(1)) for item in items if item is not None}

    @Slot()
    def new_project_dialog(self) -> None:
        name, ok = QInputDialog.getText(self, "New project", "Name:")
        if ok and name.strip():
            self.new_project(name.strip())

    def new_project(self, name: str) -> bool:
        """Create the project (if new) and make it the current one."""
        try:
            project = self.session.library.projects.get_or_create(name)
        except Exception as exc:  # an empty name, a busy database
            self.message.emit(f"could not create the project: {exc}")
            return False
        self.reload()
        self.projectsChanged.emit()
        self.useProject.emit(project.name)
        self.message.emit(f"project {project.name}: new jobs go into it")
        return True

    @Slot()
    def use_selected(self) -> None:
        item = self.tree.currentItem()
        if item is None:
            self.message.emit("choose a project first")
            return
        self._use(item)

    @Slot(QTreeWidgetItem, int)
    def _use(self, item: QTreeWidgetItem, _column: int = 0) -> None:
        self.useProject.emit(item.text(0))
