"""The main window: the panels in docks around the gallery, drag-and-drop, the status bar."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QSettings, Qt, Slot
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QDockWidget, QMainWindow, QMessageBox, QTabWidget, QWidget

from desktop.panels.canvas import CanvasPanel
from desktop.panels.generate import GeneratePanel
from desktop.panels.history import HistoryPanel
from desktop.panels.inspector import InspectorPanel
from desktop.panels.library import LibraryPanel
from desktop.panels.queue import QueuePanel
from desktop.panels.settings import SettingsDialog
from desktop.session import Session
from desktop.settings import save_preferences

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
MESSAGE_MS = 8000


class MainWindow(QMainWindow):
    def __init__(self, session: Session, settings: QSettings, *, modal_errors: bool = True) -> None:
        super().__init__()
        self.session = session
        self.settings = settings
        self.modal_errors = modal_errors  # message boxes off in tests and the smoke test
        self.setWindowTitle(f"Atelier \u2014 {session.home}")
        self.setAcceptDrops(True)
        self.generate = GeneratePanel(session)
        self.queue = QueuePanel(session)
        self.history = HistoryPanel(session)
        self.inspector = InspectorPanel(session)
        self.canvas = CanvasPanel(session)
        self.library = LibraryPanel(session)
        centre = QTabWidget()
        centre.addTab(self.history, "History")
        centre.addTab(self.canvas, "Canvas")
        self.centre = centre
        self.setCentralWidget(centre)
        self.docks = {
            "generate": self._dock("Generate", self.generate, Qt.DockWidgetArea.LeftDockWidgetArea),
            "library": self._dock("Library", self.library, Qt.DockWidgetArea.LeftDockWidgetArea),
            "inspector": self._dock(
                "Inspector", self.inspector, Qt.DockWidgetArea.RightDockWidgetArea
            ),
            "queue": self._dock("Queue", self.queue, Qt.DockWidgetArea.BottomDockWidgetArea),
        }
        self.tabifyDockWidget(self.docks["generate"], self.docks["library"])
        self.docks["generate"].raise_()
        self._menus()
        self._connect()
        self.resize(1280, 820)
        state = settings.value("window/state")
        if isinstance(state, QByteArray):
            self.restoreState(state)
        self.statusBar().showMessage(f"library: {session.home}")

    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock-{title.lower()}")
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        settings = QAction("&Settings...", self)
        settings.triggered.connect(self.edit_settings)
        file_menu.addAction(settings)
        quit_action = QAction("&Quit", self)
        quit_action.triggered.connect(self.close)
        file_menu.addAction(quit_action)
        view = self.menuBar().addMenu("&View")
        for dock in self.docks.values():
            view.addAction(dock.toggleViewAction())

    def _connect(self) -> None:
        for panel in (
            self.generate, self.queue, self.history, self.inspector, self.canvas, self.library,
        ):  # fmt: skip
            panel.message.connect(self.show_message)
        self.queue.outputsReady.connect(self.outputs_ready)
        self.history.outputSelected.connect(self.inspector.show_output)
        self.inspector.showOutput.connect(self.show_output)
        self.inspector.useSettings.connect(self.use_settings)
        self.inspector.sendTo.connect(self.send_to)
        self.inspector.queued.connect(self.jobs_queued)
        self.generate.queued.connect(self.jobs_queued)
        self.canvas.useForInpaint.connect(self.use_mask)
        self.library.usePrompt.connect(self.use_prompt)
        self.library.saveCurrentRequested.connect(self.save_prompt)

    # ---- slots -----------------------------------------------------------------------------
    @Slot(str)
    def show_message(self, text: str) -> None:
        self.statusBar().showMessage(text, MESSAGE_MS)

    def show_error(self, title: str, text: str) -> None:
        self.show_message(f"{title}: {text}")
        if self.modal_errors:
            QMessageBox.warning(self, title, text)

    @Slot(list)
    def jobs_queued(self, jobs: list[Any]) -> None:
        self.queue.refresh()

    @Slot(list)
    def outputs_ready(self, outputs: list[Any]) -> None:
        self.history.refresh()
        self.library.reload()

    @Slot(int)
    def show_output(self, output_id: int) -> None:
        if not self.history.select_output(output_id):
            self.inspector.show_output(output_id)

    @Slot(object)
    def use_settings(self, request: Any) -> None:
        self.generate.set_request(request)
        self.docks["generate"].raise_()
        self.show_message("the generate panel now holds that output's settings")

    @Slot(str, str)
    def send_to(self, task: str, ref: str) -> None:
        self.generate.set_input(task, ref)
        self.docks["generate"].raise_()
        if task == "inpaint" and self.canvas.load(ref):
            self.centre.setCurrentWidget(self.canvas)
            self.show_message("paint the mask on the canvas, then 'Use for inpaint'")

    @Slot(str, str)
    def use_mask(self, init_ref: str, mask_ref: str) -> None:
        self.generate.set_input("inpaint", init_ref, mask_ref)
        self.docks["generate"].raise_()

    @Slot(str, str)
    def use_prompt(self, text: str, negative: str) -> None:
        self.generate.prompt.setPlainText(text)
        self.generate.negative.setPlainText(negative)

    @Slot()
    def save_prompt(self) -> None:
        self.library.save_prompt(
            self.generate.prompt.toPlainText(), self.generate.negative.toPlainText()
        )

    @Slot()
    def edit_settings(self) -> None:
        dialog = SettingsDialog(self.session.prefs, self)
        if dialog.exec():
            self.apply_preferences(dialog.preferences())

    def apply_preferences(self, prefs: Any) -> None:
        self.session.apply(prefs)
        save_preferences(self.settings, prefs)
        self.show_message("settings saved")

    # ---- drag and drop ---------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if any(_is_image(u.toLocalFile()) for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        for url in event.mimeData().urls():
            path = url.toLocalFile()
            if _is_image(path):
                self.import_file(Path(path))
                event.acceptProposedAction()
                return

    def import_file(self, path: Path) -> bool:
        """Fill the generate panel from an image made by any tool; a bad file is a message."""
        from core.formats.importer import import_image

        try:
            imported = import_image(path, self.session.library)
        except Exception as exc:
            self.show_error("Cannot import", str(exc))
            return False
        self.generate.set_request(imported.request)
        self.docks["generate"].raise_()
        notes = "; ".join(imported.notes[:3])
        self.show_message(
            f"imported {path.name} ({imported.format})" + (f": {notes}" if notes else "")
        )
        return True

    def closeEvent(self, event: QCloseEvent) -> None:
        self.settings.setValue("window/state", self.saveState())
        self.settings.sync()
        self.history.thumbnails.wait(5000)
        self.session.stop_worker()
        event.accept()


def _is_image(path: str) -> bool:
    return bool(path) and Path(path).suffix.lower() in IMAGE_SUFFIXES
