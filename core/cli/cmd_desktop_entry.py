"""`atelier desktop-entry install|uninstall`: Atelier in the desktop's application menu for the
current user (freedesktop: a .desktop file, the icon in the hicolor theme, AppStream
metainfo), under `$XDG_DATA_HOME` (else ~/.local/share). The entry opens PNG files too: their
settings load into the window."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

from core.cli.options import Subparsers, set_handler

APP_ID = "io.github.atelier.Atelier"
ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


def add_parser(sub: Subparsers) -> None:
    p = sub.add_parser(
        "desktop-entry", help="add Atelier to the desktop's application menu, or remove it"
    )
    p.add_argument("what", choices=("install", "uninstall"), metavar="install|uninstall")
    set_handler(p, run)


def run(args: argparse.Namespace) -> int:
    data = data_home()
    if args.what == "install":
        for path in install(data):
            print(f"wrote {path}")
        print("Atelier is in the application menu (a new login may be needed to see it)")
        return 0
    removed = uninstall(data)
    for path in removed:
        print(f"removed {path}")
    if not removed:
        print(f"nothing to remove under {data}")
    return 0


def data_home() -> Path:
    """`$XDG_DATA_HOME`, else ~/.local/share (the XDG base directory rule)."""
    value = os.environ.get("XDG_DATA_HOME", "")
    return Path(value) if os.path.isabs(value) else Path.home() / ".local" / "share"


def installed_files(data: Path) -> list[Path]:
    files = [
        data / "applications" / f"{APP_ID}.desktop",
        data / "metainfo" / f"{APP_ID}.metainfo.xml",
        data / "icons" / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg",
    ]
    hicolor = data / "icons" / "hicolor"
    files += [hicolor / f"{s}x{s}" / "apps" / f"{APP_ID}.png" for s in ICON_SIZES]
    return files


def install(data: Path) -> list[Path]:
    from core.paths import resources_dir

    shipped = resources_dir()
    entry, metainfo, svg, *pngs = installed_files(data)
    text = (shipped / "desktop" / f"{APP_ID}.desktop").read_text(encoding="utf-8")
    text = text.replace("Exec=atelier-gui %f", f"Exec={launcher()} %f")
    _write(entry, text.encode())
    _write(metainfo, (shipped / "desktop" / f"{APP_ID}.metainfo.xml").read_bytes())
    _write(svg, (shipped / "icons" / "atelier.svg").read_bytes())
    for size, png in zip(ICON_SIZES, pngs, strict=True):
        _write(png, (shipped / "icons" / f"atelier-{size}.png").read_bytes())
    _refresh_caches(data)
    return [entry, metainfo, svg, *pngs]


def uninstall(data: Path) -> list[Path]:
    removed = [path for path in installed_files(data) if path.is_file()]
    for path in removed:
        path.unlink()
    if removed:
        _refresh_caches(data)
    return removed


def launcher() -> str:
    """The command that opens the window, as an Exec value: the bundle's program, else the
    `atelier-gui` script beside this Python (a venv, pipx), else this Python running it."""
    if getattr(sys, "frozen", False):
        return f"{_quote(sys.executable)} gui"
    beside = Path(sys.executable).parent / "atelier-gui"
    found = str(beside) if beside.is_file() else shutil.which("atelier-gui")
    if found:
        return _quote(str(Path(found).absolute()))
    return f"{_quote(sys.executable)} -m desktop.entry gui"


def _quote(arg: str) -> str:
    """An Exec argument, quoted as the Desktop Entry specification asks."""
    if not any(c in arg for c in " \t\n\"'\\><~|&;$*?#()`"):
        return arg
    escaped = "".join("\\" + c if c in '"`$\\' else c for c in arg)
    return f'"{escaped}"'.replace("%", "%%")


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _refresh_caches(data: Path) -> None:
    """Tell the menu and the icon theme (best effort: the tools are not everywhere)."""
    for command in (
        ["update-desktop-database", "-q", str(data / "applications")],
        ["gtk-update-icon-cache", "-q", "-t", str(data / "icons" / "hicolor")],
    ):
        if shutil.which(command[0]):
            subprocess.run(command, capture_output=True, timeout=30, check=False)
