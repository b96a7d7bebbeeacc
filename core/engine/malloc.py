"""glibc's malloc tuned for torch on a CPU: transparent huge pages for the memory it hands out.

On a CPU, torch allocates and frees its large buffers (a 512x512 VAE decode's activations are
128 MB each) at every step. glibc serves blocks over 32 MB from fresh mmaps (and in a thread
other than the main one many smaller blocks too: its arenas' heaps are at most 64 MB), which
the kernel fills one 4 kB page fault at a time: about a million faults, 4 GB of zeroed pages,
for a 256x256 image of an SD 1.5-sized model here. With `glibc.malloc.hugetlb=1` (glibc 2.35
and later) malloc asks for transparent huge pages, and the faults fell to about 15,000: the
same image took 0.77x the time in one run and 0.97x (95% 0.91-1.04) in another (bare diffusers
in two processes, 6 pairs each; `bench/findings.md`, 2026-12-04), for 1% more peak RSS. How
many faults a process takes also depends on how its earlier allocations left its heap: at
512x512 the bench's app and bare processes read 1.098 apart without it, 0.976 and 1.022 with it
(overhead_sd15, 4 pairs each).

glibc reads `GLIBC_TUNABLES` only as a process starts. So the processes Atelier starts get it
in their environment (`tuned_env`), and the `atelier` commands that run the engine start
themselves again, once, with it (`restart_tuned`). A `glibc.malloc.hugetlb` the user set is
left alone; `ATELIER_MALLOC=default` turns all of this off. Elsewhere (macOS, Windows, musl,
a kernel with transparent huge pages "never") it changes nothing.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

TUNABLE = "glibc.malloc.hugetlb"
VALUE = "1"
OFF = "ATELIER_MALLOC"  # "default": leave malloc as it is


def applies(env: Mapping[str, str] = os.environ) -> bool:
    """Linux with glibc, the user has not set the tunable, and it is not turned off."""
    if sys.platform != "linux" or env.get(OFF) == "default":
        return False
    if TUNABLE in env.get("GLIBC_TUNABLES", ""):
        return False
    try:
        return os.confstr("CS_GNU_LIBC_VERSION").startswith("glibc")  # type: ignore[union-attr]
    except (ValueError, OSError, AttributeError):
        return False


def tuned_env(env: Mapping[str, str] = os.environ) -> dict[str, str]:
    """`env` with the tunable added to `GLIBC_TUNABLES` (where it applies)."""
    out = dict(env)
    if applies(env):
        current = env.get("GLIBC_TUNABLES", "")
        out["GLIBC_TUNABLES"] = ":".join(p for p in (current, f"{TUNABLE}={VALUE}") if p)
    return out


def restart_tuned() -> None:
    """Start this process again with the tunable, where it applies and is not yet set.

    Call it first thing, before anything is printed, read or started: the process is
    replaced (same arguments, same open files, same pid).
    """
    if applies():
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(sys.executable, list(sys.orig_argv), tuned_env())
