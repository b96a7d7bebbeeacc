"""`atelier gui --demo` (what `make run` opens): the demo grid, queued through the window.

The grid's cells appear in the history as the worker finishes them; the assembled grid (prompts
across, guidance scale 1 and the model's default down) then opens in its own window.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Slot
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QDialog, QLabel, QVBoxLayout, QWidget

if TYPE_CHECKING:
    from desktop.main_window import MainWindow


class GridViewer(QDialog):
    """A grid image, shown at twice its size (the demo's cells are 64 pixels)."""

    def __init__(self, path: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Demo grid: {path}")
        pixmap = QPixmap(path)
        label = QLabel()
        label.setPixmap(pixmap.scaled(pixmap.size() * 2, Qt.AspectRatioMode.KeepAspectRatio))
        label.setToolTip(path)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("demo:sd, prompts across; guidance scale 1 (top) and default"))
        layout.addWidget(label)


class DemoGrid:
    """Queues the demo grid in project "demo" and opens it when the sweep assembles it."""

    def __init__(self, window: MainWindow) -> None:
        self.window = window
        self.grid_id: int | None = None
        self.viewer: GridViewer | None = None
        window.sweeps.gridReady.connect(self.ready)

    def start(self) -> int | None:
        from core.demo_batch import demo_grid_spec

        template, x, y = demo_grid_spec()
        grid = self.window.sweeps.start(template, x, y, project="demo")
        self.grid_id = grid.id
        return grid.id

    @Slot(int, str)
    def ready(self, grid_id: int, path: str) -> None:
        if grid_id != self.grid_id:
            return
        self.viewer = GridViewer(path, self.window)
        self.viewer.show()
