"""`atelier gui --demo` (make run): the demo grid is queued through the window, its cells land in
the history of project "demo", and the assembled grid opens in a viewer."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from core.demo_batch import GRID_PROMPTS
from desktop.demo import DemoGrid
from desktop.main_window import MainWindow


def test_the_demo_grid_runs_through_the_window(running_window: MainWindow, qtbot) -> None:
    window = running_window
    demo = DemoGrid(window)
    with qtbot.waitSignal(window.sweeps.gridReady, timeout=300_000) as ready:
        grid_id = demo.start()
    assert ready.args[0] == grid_id
    path = Path(ready.args[1])
    with Image.open(path) as image:  # prompts across, two guidance scales down
        assert image.width >= len(GRID_PROMPTS) * 64 and image.height >= 2 * 64
    jobs = window.session.jobs.list()
    assert len(jobs) == 2 * len(GRID_PROMPTS)
    assert {j.project for j in jobs} == {"demo"} and {j.status for j in jobs} == {"done"}
    assert demo.viewer is not None and demo.viewer.isVisible()
    demo.viewer.close()
