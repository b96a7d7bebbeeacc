"""The main window's slots for the library dock: prompts, seeds, masks and projects."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Slot

from desktop.settings import load_project, save_project

if TYPE_CHECKING:
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QDockWidget, QTabWidget

    from desktop.panels.canvas import CanvasPanel
    from desktop.panels.generate import GeneratePanel
    from desktop.panels.history import HistoryPanel
    from desktop.panels.inspector import InspectorPanel
    from desktop.panels.library import LibraryPanel


class LibrarySlots:
    """Mixed into MainWindow: what the library dock's double-clicks and buttons do."""

    generate: GeneratePanel
    library: LibraryPanel
    inspector: InspectorPanel
    canvas: CanvasPanel
    history: HistoryPanel
    settings: QSettings
    centre: QTabWidget
    docks: dict[str, QDockWidget]

    def show_message(self, text: str) -> None:  # pragma: no cover - MainWindow's
        raise NotImplementedError

    def connect_library(self) -> None:
        self.canvas.useForInpaint.connect(self.use_mask)
        self.library.usePrompt.connect(self.use_prompt)
        self.library.saveCurrentRequested.connect(self.save_prompt)
        self.library.seeds.addCurrentRequested.connect(self.save_seed)
        self.library.seeds.useSeed.connect(self.use_seed)
        self.library.masks.useMask.connect(self.use_library_mask)
        self.library.models.modelsChanged.connect(self.generate.reload_models)
        self.generate.project.set_project(load_project(self.settings))
        self.generate.project.currentTextChanged.connect(self.project_changed)
        self.library.projects.useProject.connect(self.use_project)
        self.library.projects.projectsChanged.connect(self.generate.reload_projects)
        self.library.projects.projectsChanged.connect(self.history.reload_projects)

    @Slot(str)
    def project_changed(self, name: str) -> None:
        if name.strip():
            save_project(self.settings, name.strip())

    @Slot(str)
    def use_project(self, name: str) -> None:
        """The project new jobs go into, and the one the gallery shows."""
        self.generate.project.set_project(name)
        self.history.show_project(name)
        self.show_message(f"project {name}: new jobs go into it; the gallery shows it")

    @Slot(str, str)
    def use_mask(self, init_ref: str, mask_ref: str) -> None:
        self.generate.set_input("inpaint", init_ref, mask_ref)
        self.docks["generate"].raise_()
        self.library.masks.reload()

    @Slot(str)
    def use_library_mask(self, mask_ref: str) -> None:
        """Set the generate panel's mask and show it on the canvas, to see and edit it."""
        init_ref = self.generate.init_image.text().strip()
        self.use_mask(init_ref, mask_ref)
        if init_ref and self.canvas.init_ref != init_ref:
            self.canvas.load(init_ref)
        if self.canvas.load_mask(mask_ref):
            self.centre.setCurrentWidget(self.canvas)
        self.show_message(f"the generate panel's mask is now {mask_ref[:19]}...")

    @Slot(str)
    def save_seed(self, label: str) -> None:
        """The generate panel's seed, else (random there) the seed of the output shown."""
        if not self.generate.random_seed.isChecked():
            self.library.seeds.add_seed(self.generate.seed.value(), label)
        elif self.inspector.output is not None:
            self.library.seeds.add_seed(self.inspector.output.seed, label)
        else:
            self.show_message("no seed to save: untick 'random' or select an output")

    @Slot(int)
    def use_seed(self, value: int) -> None:
        self.generate.random_seed.setChecked(False)
        self.generate.seed.setValue(min(value, self.generate.seed.maximum()))
        self.docks["generate"].raise_()

    @Slot(str, str)
    def use_prompt(self, text: str, negative: str) -> None:
        self.generate.prompt.setPlainText(text)
        self.generate.negative.setPlainText(negative)

    @Slot()
    def save_prompt(self) -> None:
        self.library.save_prompt(
            self.generate.prompt.toPlainText(), self.generate.negative.toPlainText()
        )  # with the tags in the Prompts tab's field
