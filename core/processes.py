"""Is a process still there? Used to tell a crashed writer or worker from a live one."""

from __future__ import annotations

import os
import sys


def process_alive(pid: int) -> bool:
    """True when `pid` runs on this machine (True when it cannot be known, as on Windows).

    A zombie (killed, not yet reaped by its parent) counts as gone.
    """
    if pid == os.getpid():
        return True
    if sys.platform == "win32":
        return True  # os.kill would terminate it: callers fall back on ages and heartbeats
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rsplit(") ", 1)[1][:1] != "Z"
    except (OSError, IndexError):
        return True
