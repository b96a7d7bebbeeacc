"""`atelier gui --demo` (what `make run` opens): the demo grid, queued through the window.

The grid's cells appear in the history as the worker finishes them; the assembled grid (prompts
across, guidance scale 1 and the model's default down) is kept in the history and opens in the
viewer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Slot

if TYPE_CHECKING:
    from desktop.main_window import MainWindow
    from desktop.viewer import ViewerWindow


class DemoGrid:
    """Queues the demo grid in project "demo" and opens it when the sweep assembles it."""

    def __init__(self, window: MainWindow) -> None:
        self.window = window
        self.grid_id: int | None = None
        self.viewer: ViewerWindow | None = None
        self.path: str | None = None
        window.sweeps.gridReady.connect(self.ready)
        # after the window's own slot, which selects the grid and opens it in the viewer
        window.sweeps.gridRecorded.connect(self.recorded)

    def start(self) -> int | None:
        from core.demo_batch import demo_grid_spec

        template, x, y = demo_grid_spec()
        grid = self.window.sweeps.start(template, x, y, project="demo")
        self.grid_id = grid.id
        return grid.id

    @Slot(int, str)
    def ready(self, grid_id: int, path: str) -> None:
        if grid_id == self.grid_id:
            self.path = path

    @Slot(int)
    def recorded(self, output_id: int) -> None:
        viewer = self.window.history.viewer
        if self.path is None or viewer is None or viewer.after_path != self.path:
            return
        viewer.setWindowTitle(
            "Demo grid: demo:sd, prompts across; guidance scale 1 (top) and default"
        )
        self.viewer = viewer
