"""Start the desktop app: the window is on screen before torch is imported (the worker and
its engine start from the event loop, after the first paint)."""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings, QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QMessageBox

from desktop.main_window import MainWindow
from desktop.session import Session
from desktop.settings import Preferences, load_preferences, open_settings


def library_home(args: Any, prefs: Preferences) -> Path:
    """`--home`, else the home in the settings, else the core's default."""
    from core.library import default_home

    home = getattr(args, "home", None)
    if home:
        return Path(home).expanduser()
    if prefs.library_home:
        return Path(prefs.library_home).expanduser()
    return default_home()


def create_window(
    home: Path, settings: QSettings | None = None, *, modal_errors: bool = True
) -> MainWindow:
    """Open the library at `home` and build the window (no worker yet: `start_worker`)."""
    from core.library import Library

    settings = settings or open_settings()
    prefs = load_preferences(settings)
    session = Session(Library.open(home), prefs)
    return MainWindow(session, settings, modal_errors=modal_errors)


def application() -> QApplication:
    app = QApplication.instance()
    if isinstance(app, QApplication):
        return app
    app = QApplication(sys.argv[:1])
    app.setApplicationName("Atelier")
    app.setOrganizationName("Atelier")
    app.setDesktopFileName("io.github.atelier.Atelier")  # the desktop entry, on Wayland
    from core.paths import resources_dir

    app.setWindowIcon(QIcon(str(resources_dir() / "icons" / "atelier-256.png")))
    return app


def launch(args: Any) -> int:
    """`atelier` / `atelier gui [--smoke-test PNG]`."""
    smoke = getattr(args, "smoke_test", None)
    if smoke is not None:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    app = application()
    settings = open_settings()
    try:
        home = library_home(args, load_preferences(settings))
        window = create_window(home, settings, modal_errors=smoke is None)
    except Exception as exc:
        traceback.print_exc()
        print(f"atelier: cannot open the library: {exc}", file=sys.stderr)
        if smoke is None:
            QMessageBox.critical(None, "Atelier", f"Cannot open the library:\n{exc}")
        return 1
    window.show()
    QTimer.singleShot(0, window.session.start_worker)
    image = getattr(args, "image", None)
    if image is not None:  # opened from a file manager: the same import as a drop
        QTimer.singleShot(0, lambda: window.import_file(Path(image)))
    if getattr(args, "demo", False):
        from desktop.demo import DemoGrid

        demo = DemoGrid(window)  # lives as long as this call, the window's whole life
        QTimer.singleShot(0, demo.start)
    try:
        if smoke is not None:
            from desktop.smoke import SmokeTest

            return SmokeTest(window, Path(smoke)).run(app)
        return app.exec()
    finally:
        window.close()
        window.session.close()
