"""The worker in its own process, under its earlier name: see `core.queue.process`.

`python -m core.queue.worker_process HOME` still runs the child.
"""

from __future__ import annotations

import sys

from core.queue.process.child import main
from core.queue.process.parent import RESTART_LIMIT, WorkerProcess

__all__ = ["RESTART_LIMIT", "WorkerProcess", "main"]

if __name__ == "__main__":
    sys.exit(main())
