"""`atelier --version`: the package version and, run from a git checkout, its commit."""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from core import __version__


def checkout_commit() -> str | None:
    """The short commit of the checkout the `core` package runs from (with '+changes' when
    tracked files differ from it); None when installed from a wheel or git is missing."""
    root = Path(__file__).resolve().parent.parent
    if not (root / ".git").exists():  # a folder in a clone, a file in a worktree
        return None
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short=10", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{commit}+changes" if dirty else commit


def version_text() -> str:
    commit = checkout_commit()
    return f"atelier {__version__}" + (f" (git {commit})" if commit else "")


class VersionAction(argparse.Action):
    """Like argparse's "version" action, but the git call happens only when asked."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        kwargs.setdefault("help", "show the version (and the git commit of a checkout) and exit")
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        print(version_text(), file=sys.stdout)
        parser.exit()
