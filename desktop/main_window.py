"""The main window: the panels in docks around the gallery, drag-and-drop, the status bar."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QEvent, QSettings, Qt, Slot
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QFrame,
    QLabel,
    QMainWindow,
    QMessageBox,
    QScrollArea,
    QTabWidget,
    QWidget,
)

from core.errors import BadInput
from desktop.folder_batches import FolderBatches
from desktop.library_slots import LibrarySlots
from desktop.panels.batch_dialog import FolderBatchDialog
from desktop.panels.canvas import CanvasPanel
from desktop.panels.generate import GeneratePanel
from desktop.panels.history import HistoryPanel
from desktop.panels.inspector import InspectorPanel
from desktop.panels.library import LibraryPanel
from desktop.panels.queue import QueuePanel
from desktop.panels.settings import SettingsDialog
from desktop.panels.sweep_dialog import SweepDialog
from desktop.panels.train import TrainPanel
from desktop.session import Session
from desktop.settings import save_preferences
from desktop.sweeps import Sweeps

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
MESSAGE_MS = 8000
QUEUE_PX = 220  # the queue dock's first height: the gallery and its large view get the rest


class MainWindow(LibrarySlots, QMainWindow):
    def __init__(self, session: Session, settings: QSettings, *, modal_errors: bool = True) -> None:
        super().__init__()
        self.session = session
        self.settings = settings
        self.modal_errors = modal_errors  # message boxes off in tests and the smoke test
        self.setWindowTitle(f"Atelier \u2014 {session.home}")
        self.setAcceptDrops(True)
        self.last_import_unmapped: list[str] = []  # the last import's settings not carried over
        self.generate = GeneratePanel(session)
        self.queue = QueuePanel(session)
        self.history = HistoryPanel(session)
        self.inspector = InspectorPanel(session)
        self.canvas = CanvasPanel(session)
        self.library = LibraryPanel(session)
        self.train = TrainPanel(session, self.generate.project.current)
        self.batches = FolderBatches(session, self)
        self.sweeps = Sweeps(session, self)
        self.watching = QLabel()
        self.statusBar().addPermanentWidget(self.watching)
        centre = QTabWidget()
        centre.addTab(self.history, "History")
        centre.addTab(self.canvas, "Canvas")
        centre.addTab(self.train, "Train")
        self.centre = centre
        self.setCentralWidget(centre)
        self.docks = {
            "generate": self._dock(
                "Generate", self.generate, Qt.DockWidgetArea.LeftDockWidgetArea, scroll=True
            ),
            "library": self._dock("Library", self.library, Qt.DockWidgetArea.LeftDockWidgetArea),
            "inspector": self._dock(
                "Inspector", self.inspector, Qt.DockWidgetArea.RightDockWidgetArea, scroll=True
            ),
            "queue": self._dock("Queue", self.queue, Qt.DockWidgetArea.BottomDockWidgetArea),
        }
        self.tabifyDockWidget(self.docks["generate"], self.docks["library"])
        self.docks["generate"].raise_()
        self._menus()
        self._connect()
        self.resize(1280, 760)
        self.resizeDocks([self.docks["queue"]], [QUEUE_PX], Qt.Orientation.Vertical)
        self.restore_layout()
        self.statusBar().showMessage(f"library: {session.home}")

    def _dock(
        self, title: str, widget: QWidget, area: Qt.DockWidgetArea, scroll: bool = False
    ) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock-{title.lower()}")
        if scroll:  # a tall form scrolls instead of making the window taller than the screen
            area_widget = QScrollArea()
            area_widget.setWidgetResizable(True)
            area_widget.setFrameShape(QFrame.Shape.NoFrame)
            area_widget.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
            area_widget.setWidget(widget)
            bar = area_widget.verticalScrollBar().sizeHint().width()
            area_widget.setMinimumWidth(widget.minimumSizeHint().width() + bar)
            widget = area_widget
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def restore_layout(self) -> None:
        """The window's size, its docks and the gallery's splitter as the user left them."""
        geometry = self.settings.value("window/geometry")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        state = self.settings.value("window/state")
        if isinstance(state, QByteArray):
            self.restoreState(state)
        splitter = self.settings.value("window/history-splitter")
        if isinstance(splitter, QByteArray):
            self.history.splitter.restoreState(splitter)

    def save_layout(self) -> None:
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState())
        self.settings.setValue("window/history-splitter", self.history.splitter.saveState())
        self.settings.sync()

    def _menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self.import_action = self._action(
            file_menu, "&Import settings from image...", self.import_dialog, "Ctrl+I"
        )
        batch = QAction("Folder &batch...", self)
        batch.triggered.connect(self.folder_batch)
        file_menu.addAction(batch)
        self.stop_watching_action = QAction("Stop &watching", self)
        self.stop_watching_action.setEnabled(False)
        self.stop_watching_action.triggered.connect(self.batches.stop_watching)
        file_menu.addAction(self.stop_watching_action)
        file_menu.addSeparator()
        settings = QAction("&Settings...", self)
        settings.triggered.connect(self.edit_settings)
        file_menu.addAction(settings)
        quit_action = QAction("&Quit", self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        file_menu.addAction(quit_action)
        edit = self.menuBar().addMenu("&Edit")
        self.undo_mask_action = self._action(
            edit, "&Undo mask stroke", lambda: self._on_mask("undo"), QKeySequence.StandardKey.Undo
        )
        self.redo_mask_action = self._action(
            edit, "&Redo mask stroke", lambda: self._on_mask("redo"), "Ctrl+Shift+Z"
        )
        queue = self.menuBar().addMenu("&Queue")
        self.queue_action = self._action(
            queue, "&Queue job", self.generate.queue_jobs, "Ctrl+Return"
        )
        self.queue_action.setShortcuts([QKeySequence("Ctrl+Return"), QKeySequence("Ctrl+Enter")])
        self.cancel_action = self._action(queue, "&Cancel running job", self.cancel_running, "Esc")
        self.viewer_action = self._action(
            queue, "&Open selected output in viewer", self.history.open_viewer, "Ctrl+Shift+V"
        )
        view = self.menuBar().addMenu("&View")
        for dock in self.docks.values():
            view.addAction(dock.toggleViewAction())

    def _action(self, menu: Any, text: str, slot: Any, shortcut: Any) -> QAction:
        """A menu entry with its shortcut (listed beside it), working anywhere in the window."""
        action = QAction(text, self)
        action.setShortcut(QKeySequence(shortcut))
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.triggered.connect(lambda checked=False: slot())
        menu.addAction(action)
        return action

    def _on_mask(self, what: str) -> bool:
        """Ctrl+Z / Ctrl+Shift+Z reach the mask while the canvas is shown (a text field with
        the focus keeps its own undo)."""
        if self.centre.currentWidget() is not self.canvas:
            return False
        done: bool = getattr(self.canvas.painter, what)()
        return done

    @Slot()
    def cancel_running(self) -> None:
        """Esc: ask the running job to stop at its next step."""
        job_id = self.queue.running_job
        if job_id is None:
            running = self.session.jobs.list(("running",), limit=1)
            job_id = running[0].id if running else None
        if job_id is None:
            self.show_message("no job is running")
            return
        try:
            result = self.session.jobs.cancel(job_id)
        except Exception as exc:
            self.show_message(str(exc))
            return
        self.show_message(f"job {job_id}: {result}")
        self.queue.update_job(job_id)

    @Slot()
    def import_dialog(self) -> None:
        from PySide6.QtWidgets import QFileDialog

        path, _ = QFileDialog.getOpenFileName(
            self, "Import settings from image", "", "Images (*.png *.jpg *.jpeg *.webp)"
        )
        if path:
            self.import_file(Path(path))

    def _connect(self) -> None:
        for panel in (
            self.generate, self.queue, self.history, self.inspector, self.canvas, self.library,
            self.train,
        ):  # fmt: skip
            panel.message.connect(self.show_message)
        for worker in (self.batches, self.sweeps):
            worker.message.connect(self.show_message)
            worker.queued.connect(self.jobs_queued)
        self.batches.watchingChanged.connect(self.watching_changed)
        self.generate.sweepRequested.connect(self.sweep)
        self.sweeps.gridRecorded.connect(self.grid_recorded)
        self.queue.outputsReady.connect(self.outputs_ready)
        self.session.bridge.workerExited.connect(self.worker_exited)
        self.session.bridge.workerProblem.connect(self.worker_problem)
        self.session.bridge.recovered.connect(self.jobs_recovered)
        self.history.outputSelected.connect(self.inspector.show_output)
        self.inspector.showOutput.connect(self.show_output)
        self.inspector.useSettings.connect(self.use_settings)
        self.inspector.sendTo.connect(self.send_to)
        self.inspector.queued.connect(self.jobs_queued)
        self.generate.queued.connect(self.jobs_queued)
        self.train.queued.connect(self.jobs_queued)
        self.train.trained.connect(self.variant_trained)
        self.train.useTrained.connect(self.use_trained)
        self.queue.jobSelected.connect(self.job_selected)
        self.generate.depthChanged.connect(self.canvas.show_depth)
        self.history.outputsDeleted.connect(self.inspector.forget_outputs)
        self.connect_library()

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
        self.queue.add_jobs(jobs)

    def changeEvent(self, event: QEvent) -> None:
        """Back in the window: one cheap reconciliation of the queue (the CLI or another
        window may have changed it meanwhile)."""
        if event.type() == QEvent.Type.ActivationChange and self.isActiveWindow():
            self.queue.refresh()
        super().changeEvent(event)

    @Slot(list)
    def outputs_ready(self, outputs: list[Any]) -> None:
        """A job finished: its first image is selected, shown large and in the inspector."""
        self.history.refresh()
        self.library.reload()
        shown = self.history.select_output(outputs[0].output_id) if outputs else False
        # not while masking, nor while watching a training run
        if shown and self.centre.currentWidget() not in (self.canvas, self.train):
            self.centre.setCurrentWidget(self.history)

    @Slot(str)
    def variant_trained(self, name: str) -> None:
        """A training run finished: its variant is in the model lists and the library."""
        self.generate.reload_models()
        self.library.reload()

    @Slot(str, str, str, str, str)
    def use_trained(self, name: str, kind: str, base: str, prompt: str, token: str) -> None:
        self.generate.use_trained(name, kind, base, prompt, token)
        self.docks["generate"].raise_()
        what = {"lora": "LoRA", "embedding": "embedding"}.get(kind, "model")
        self.show_message(f"the generate panel now uses the trained {what} {name}")

    @Slot(int)
    def job_selected(self, job_id: int) -> None:
        """A training job selected in the queue: the Train panel shows its run."""
        job = self.queue.model.job(job_id)
        if job is not None and job.kind == "train":
            self.train.watch(job_id)

    @Slot(int)
    def grid_recorded(self, output_id: int) -> None:
        """A sweep's grid is in the history: select it and open it in the viewer."""
        self.history.refresh()
        if self.history.select_output(output_id):
            self.history.open_viewer()

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
        if task in ("inpaint", "depth") and self.canvas.load(ref):
            self.centre.setCurrentWidget(self.canvas)
            if task == "inpaint":
                self.show_message("paint the mask on the canvas, then 'Use for inpaint'")

    # ---- folder batches and sweeps ---------------------------------------------------------
    @Slot()
    def folder_batch(self) -> None:
        dialog = FolderBatchDialog(
            self.generate.request(),
            [self.generate.model.itemText(i) for i in range(self.generate.model.count())],
            self.session.prefs.output_folder,
            self,
        )
        if dialog.exec():
            self.start_folder_batch(dialog)

    def start_folder_batch(self, dialog: FolderBatchDialog) -> list[Any]:
        try:
            return self.batches.start(dialog.spec(self.generate.project.current()))
        except BadInput as exc:
            self.show_error("Folder batch", str(exc))
        except Exception as exc:  # a busy database
            self.show_error("Folder batch", f"could not queue: {exc}")
        return []

    @Slot(int)
    def worker_exited(self, code: int, restarted: bool) -> None:
        what = "started again" if restarted else "not started again (it kept stopping)"
        self.show_error("Worker stopped", f"The worker process ended (exit code {code}); {what}.")

    @Slot(str)
    def worker_problem(self, text: str) -> None:
        self.show_error("Worker", text)

    def jobs_recovered(self, count: int) -> None:
        self.show_message(f"{count} interrupted job(s) recovered")

    def watching_changed(self, count: int) -> None:
        self.watching.setText(f"watching {count} folder(s)" if count else "")
        self.stop_watching_action.setEnabled(count > 0)

    @Slot()
    def sweep(self) -> None:
        template = self.generate.check()
        if template is None:
            return
        dialog = SweepDialog(template, self)
        if dialog.exec():
            self.start_sweep(dialog)

    def start_sweep(self, dialog: SweepDialog) -> Any:
        try:
            x, y = dialog.axes()
            return self.sweeps.start(dialog.template, x, y, self.generate.project.current())
        except BadInput as exc:
            self.show_error("Sweep", str(exc))
        except Exception as exc:
            self.show_error("Sweep", f"could not queue: {exc}")
        return None

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
        notes = "; ".join(getattr(imported, "notes", ())[:3])
        unmapped = getattr(imported, "unmapped", None) or []  # names, or names -> values
        if isinstance(unmapped, dict):
            self.last_import_unmapped = [f"{k}: {v}" for k, v in sorted(unmapped.items())]
        else:
            self.last_import_unmapped = [str(item) for item in unmapped]
        self.show_message(
            f"imported {path.name} ({imported.format})" + (f": {notes}" if notes else "")
        )
        if self.last_import_unmapped:
            listed = "\n".join(self.last_import_unmapped)
            self.show_error("Settings not carried over", f"{path.name} also had:\n{listed}")
        return True

    def closeEvent(self, event: QCloseEvent) -> None:
        self.save_layout()
        self.batches.stop_watching()
        self.history.thumbnails.wait(5000)
        self.train.thumbnails.wait(5000)
        self.session.ask_worker_to_stop()  # never waits on a step (one took 142 s)
        event.accept()


def _is_image(path: str) -> bool:
    return bool(path) and Path(path).suffix.lower() in IMAGE_SUFFIXES
