"""Helpers shared by the desktop tests."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from desktop.main_window import MainWindow


def fill_demo(
    window: MainWindow,
    *,
    steps: int = 2,
    seed: int = 7,
    task: str = "text2img",
    model: str = "demo:sd",
) -> None:
    panel = window.generate
    panel.task.setCurrentText(task)
    panel.model.setCurrentText(model)
    panel.prompt.setPlainText("a red fox in the snow")
    panel.random_seed.setChecked(False)
    panel.seed.setValue(seed)
    panel.steps.setValue(steps)


def write_png(
    path: Path, size: tuple[int, int] = (64, 64), text: dict[str, str] | None = None
) -> Path:
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    for key, value in (text or {}).items():
        info.add_text(key, value)
    Image.new("RGB", size, (90, 120, 200)).save(path, pnginfo=info)
    return path
