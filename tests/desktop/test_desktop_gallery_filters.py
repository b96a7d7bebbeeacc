"""The gallery's filters by model, task and date (next to the search box and the project)."""

from __future__ import annotations

import json

from core.library.entities import NewAsset, NewOutput
from desktop.main_window import MainWindow


def _record(window: MainWindow, n: int, task: str, model: str, offset: int) -> None:
    library = window.session.library
    project = library.projects.get_or_create("default")
    request = json.dumps({"task": task, "model": model, "prompt": f"{task} picture"})
    outputs = [
        NewOutput(
            asset=NewAsset(sha256=f"{offset + i:064x}", relpath=f"x/{i}.png", size=1, format="png"),
            path=f"/nonexistent/{offset + i}.png",
            image_index=i,
            seed=i,
            pixel_sha256=f"{offset + i:064x}",
            record_json=json.dumps({"request": json.loads(request)}),
        )
        for i in range(n)
    ]
    library.runs.record_run(project.id, None, request, f"{offset:064x}", "{}", "{}", outputs)


def test_filter_by_task_model_and_date(window: MainWindow, qtbot) -> None:
    _record(window, 3, "text2img", "demo:sd", 0)
    _record(window, 2, "upscale", "demo:sd-upscale", 100)
    history = window.history
    history.refresh()
    assert history.model.rowCount() == 5

    history.task_filter.setCurrentText("upscale")
    history.apply_filter()
    assert history.model.rowCount() == 2
    assert all(history.model.output(r).pixel_sha256.endswith(("64", "65")) for r in range(2))
    history.task_filter.setCurrentText("text2img")
    history.apply_filter()
    assert history.model.rowCount() == 3

    history.task_filter.setCurrentIndex(0)  # (all tasks)
    history.model_filter.setCurrentText("demo:sd-upscale")
    history.apply_filter()
    assert history.model.rowCount() == 2
    history.model_filter.setCurrentText("demo:sd-depth")
    history.apply_filter()
    assert history.model.rowCount() == 0

    history.model_filter.setCurrentIndex(0)
    history.since.setCurrentText("last 24 hours")
    history.apply_filter()
    assert history.model.rowCount() == 5
    # choosing applies the filter (debounced); it survives a refresh (new outputs arriving)
    history.task_filter.setCurrentText("upscale")
    qtbot.waitUntil(lambda: history.model.rowCount() == 2, timeout=5000)
    history.refresh()
    assert history.model.rowCount() == 2 and history.task_filter.currentText() == "upscale"
