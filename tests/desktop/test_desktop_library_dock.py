"""The library dock's Seeds, Masks and Models tabs."""

from __future__ import annotations

from pathlib import Path

from desktop_helpers import fill_demo, write_png
from PySide6.QtCore import QPoint

from desktop.main_window import MainWindow


def test_seeds_add_use_remove(window: MainWindow) -> None:
    seeds = window.library.seeds
    fill_demo(window, seed=1234)
    seeds.label.setText("nice fox")
    seeds.addCurrentRequested.emit(seeds.label.text())
    assert [(s.value, s.label) for s in window.session.library.seeds.list()] == [(1234, "nice fox")]
    assert seeds.list.count() == 1 and "nice fox" in seeds.list.item(0).text()
    window.generate.random_seed.setChecked(True)
    seeds._use(seeds.list.item(0))  # what a double-click does
    assert not window.generate.random_seed.isChecked() and window.generate.seed.value() == 1234
    # random seed and no output shown: nothing to save, a message says why
    window.generate.random_seed.setChecked(True)
    window.save_seed("")
    assert "no seed to save" in window.statusBar().currentMessage()
    seeds.list.setCurrentRow(0)
    seeds.remove_selected()
    assert window.session.library.seeds.list() == [] and seeds.list.count() == 0


def test_masks_list_and_double_click_sets_the_mask(window: MainWindow, tmp_path: Path) -> None:
    canvas = window.canvas
    assert canvas.load(str(write_png(tmp_path / "init.png")))
    canvas.painter.stroke([QPoint(10, 10), QPoint(30, 30)])
    ref = canvas.save_mask()
    assert ref is not None
    masks = window.library.masks
    masks.reload()
    assert masks.list.count() == 1
    assert masks.list.item(0).text().startswith("64x64")
    window.generate.task.setCurrentText("text2img")
    window.generate.init_image.setText("output:1")
    masks._use(masks.list.item(0))  # what a double-click does
    assert window.generate.mask_ref.text() == ref
    assert window.generate.task.currentText() == "inpaint"
    assert window.generate.init_image.text() == "output:1"
    masks.list.setCurrentRow(0)
    masks.remove_selected()
    assert window.session.library.masks.list() == []


def test_add_and_verify_a_model(window: MainWindow, qtbot) -> None:
    models = window.library.models
    with qtbot.waitSignal(models.modelsChanged, timeout=60_000):
        models.add_model("demo:sd", "my-sd")
    assert "my-sd" in models.names()
    variant = window.session.library.models.get("my-sd")
    assert variant is not None and variant.fingerprint
    assert "my-sd" in [
        window.generate.model.itemText(i) for i in range(window.generate.model.count())
    ]
    models.tree.setCurrentItem(models.tree.topLevelItem(0))
    with qtbot.waitSignal(models.verified, timeout=60_000) as verified:
        models.verify_selected()
    assert verified.args == ["my-sd", True]
    assert "ok" in window.statusBar().currentMessage()
    # a second model with the same name is refused with a message
    models.add_model("demo:sd", "my-sd")
    qtbot.waitUntil(lambda: "already exists" in window.statusBar().currentMessage(), timeout=30_000)


def test_double_click_loads_the_mask_into_the_painter(window: MainWindow, tmp_path: Path) -> None:
    canvas, painter = window.canvas, window.canvas.painter
    init = str(write_png(tmp_path / "init.png"))
    assert canvas.load(init)
    painter.stroke([QPoint(10, 10), QPoint(30, 30)])
    ref = canvas.save_mask()
    assert ref is not None
    painter.clear()
    assert not painter.painted()
    window.generate.init_image.setText(init)
    masks = window.library.masks
    masks.reload()
    masks._use(masks.list.item(0))  # what a double-click does
    assert painter.painted()
    assert painter.mask_image.pixelColor(20, 20).value() == 255  # on the stroke
    assert painter.mask_image.pixelColor(60, 5).value() == 0
    assert window.centre.currentWidget() is canvas and window.generate.mask_ref.text() == ref
    # edit it and use it: stored as a new mask, the generate panel takes it
    painter.stroke([QPoint(50, 50)])
    canvas.use_for_inpaint()
    new_ref = window.generate.mask_ref.text()
    assert new_ref.startswith("sha256:") and new_ref != ref
    assert len(window.session.library.masks.list()) == 2
