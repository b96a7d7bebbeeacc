"""Atelier's core: engine, library, records and queue. Never imports Qt."""

import os

__version__ = "0.1.0"

# OpenMP threads that spin while waiting made torch 10-100x slower whenever another process (a
# second worker, the GUI, a build) wanted the same cores. Sleeping waiters cost nothing
# measurable alone. Set before torch loads; a value the user set wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
