"""glibc's malloc tuning for torch (core.engine.malloc): the processes that run the engine start
with `glibc.malloc.hugetlb=1`, once, and a user's own setting wins."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from core.cli.main import build_parser, runs_engine
from core.engine import malloc

glibc = pytest.mark.skipif(
    not malloc.applies({}), reason="glibc's tunables exist only on Linux with glibc"
)
SHOW = (
    "import os, sys; from core.engine.malloc import restart_tuned; print('start', os.getpid()); "
    "restart_tuned(); print(os.getpid(), os.environ.get('GLIBC_TUNABLES'), sys.argv[1:])"
)


def _run(env: dict[str, str]) -> str:
    clean = {k: v for k, v in os.environ.items() if k not in ("GLIBC_TUNABLES", malloc.OFF)}
    done = subprocess.run(
        [sys.executable, "-c", SHOW, "a", "--b"],
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


@glibc
def test_a_process_starts_again_once_with_huge_pages_and_its_arguments() -> None:
    first, again, line = _run({}).splitlines()  # started twice, not more
    pid, tunables, args = line.split(" ", 2)
    assert first == again == f"start {pid}"  # the same process, replaced
    assert tunables == "glibc.malloc.hugetlb=1"
    assert args == "['a', '--b']"


@glibc
def test_the_users_tunables_are_kept_and_theirs_wins() -> None:
    *_, line = _run({"GLIBC_TUNABLES": "glibc.malloc.arena_max=2"}).splitlines()
    assert line.split(" ")[1] == "glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1"
    _start, line = _run({"GLIBC_TUNABLES": "glibc.malloc.hugetlb=0"}).splitlines()  # no restart
    assert line.split(" ")[1] == "glibc.malloc.hugetlb=0"


def test_atelier_malloc_default_leaves_malloc_alone() -> None:
    _start, line = _run({malloc.OFF: "default"}).splitlines()  # no restart
    assert line.split(" ")[1] == "None"
    assert "GLIBC_TUNABLES" not in malloc.tuned_env({malloc.OFF: "default"})


@pytest.mark.parametrize(
    ("args", "engine"),
    [
        (["generate", "--model", "demo:sd", "--prompt", "a cat"], True),
        (["--home", "/tmp/h", "queue", "run"], True),
        (["queue", "add", "--model", "demo:sd", "--prompt", "run"], False),
        (["batch", "in/", "--model", "demo:sd", "--task", "img2img", "--out", "o/", "--run"], True),
        (
            ["batch", "in/", "--model", "demo:sd", "--task", "img2img", "--out", "o/", "--watch"],
            False,
        ),
        (["reproduce", "3"], True),
        (["demo"], True),
        (["history", "search", "demo"], False),
        ([], False),  # the window: its worker process is started tuned
    ],
)
def test_the_commands_that_run_the_engine_are_the_ones_restarted(
    args: list[str], engine: bool
) -> None:
    assert runs_engine(build_parser().parse_args(args)) is engine
