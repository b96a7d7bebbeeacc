"""The live GUI: event-loop stalls while jobs run, time to the window, and `atelier --help`.

gui_stall_ms: in a child process (Qt offscreen), the real window is built with
`desktop.app.create_window`, shown, and its worker started as `atelier gui` does; a 5 ms
precise QTimer records the gaps of the event loop while demo jobs queued through the window's
session run in its worker process; the stall is the longest gap minus the interval.
gui_start_s: from starting a process that runs the `atelier` entry point (`desktop.entry.main`)
to the main window's first paint (an event filter installed on the QApplication prints a
marker); median of several starts. help_s: `atelier --help`, wall time, median.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import (
    ROOT,
    VENV_BIN,
    Case,
    bench_env,
    fresh_home,
    median,
    not_measurable,
)

STALL_TARGET_MS = 50.0
START_TARGET_S = 2.0
HELP_TARGET_S = 0.5
TIMER_MS = 5
MARKER = "BENCH-WINDOW-PAINTED"


def _gui_ready() -> str | None:
    """None when the desktop app can be measured, else why not."""
    if not (ROOT / "desktop" / "app.py").is_file():
        return "desktop/app.py does not exist"
    try:
        import importlib.util

        if importlib.util.find_spec("PySide6") is None:
            return "PySide6 is not installed"
    except ImportError:
        return "PySide6 is not installed"
    return None


def _gui_env(home: Path) -> dict[str, str]:
    env = bench_env(home)
    env["QT_QPA_PLATFORM"] = "offscreen"
    return env


# ---- help_s ------------------------------------------------------------------------------
def help_s(quick: bool) -> Case:
    exe = VENV_BIN / "atelier"
    if not exe.is_file():
        return not_measurable("help_s", "s", f"< {HELP_TARGET_S}", f"{exe} is not installed")
    runs = 3 if quick else 7
    times: list[float] = []
    env = bench_env()
    subprocess.run([str(exe), "--help"], env=env, capture_output=True, check=True)  # warm cache
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([str(exe), "--help"], env=env, capture_output=True, check=True)
        times.append(time.perf_counter() - started)
    value = median(times)
    return Case(
        "help_s",
        value,
        "s",
        f"< {HELP_TARGET_S}",
        None,
        value < HELP_TARGET_S,
        note=f"`atelier --help` wall time, median of {runs} (after one warm-up run)",
        details={"runs_s": times},
    )


# ---- gui_start_s -------------------------------------------------------------------------
def gui_start_s(quick: bool) -> Case:
    why = _gui_ready()
    if why:
        return not_measurable("gui_start_s", "s", f"< {START_TARGET_S}", why)
    runs = 2 if quick else 5
    times: list[float] = []
    with fresh_home("gui-start") as home:
        env = _gui_env(home)
        for i in range(runs + 1):
            started = time.perf_counter()
            proc = subprocess.Popen(
                [sys.executable, "-m", "bench.gui", "start-child", str(home)],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
                cwd=str(ROOT),
            )
            assert proc.stdout is not None
            painted = None
            for line in proc.stdout:
                if line.startswith(MARKER):
                    painted = time.perf_counter() - started
                    break
            proc.terminate()  # the window is up; no need to wait for its worker
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if painted is None:
                return not_measurable(
                    "gui_start_s", "s", f"< {START_TARGET_S}", "the window never painted"
                )
            if i > 0:  # the first start fills the OS file cache and makes the library
                times.append(painted)
    value = median(times)
    return Case(
        "gui_start_s",
        value,
        "s",
        f"< {START_TARGET_S}",
        None,
        value < START_TARGET_S,
        note=(
            f"process start of the `atelier` entry point to the window's first paint "
            f"(Qt offscreen), median of {runs} after one warm-up start"
        ),
        details={"runs_s": times},
    )


def _start_child(home: str) -> int:
    """Run the real entry point; print the marker at the main window's first paint."""
    from PySide6.QtCore import QEvent, QObject
    from PySide6.QtWidgets import QApplication, QMainWindow

    class FirstPaint(QObject):
        done = False

        def eventFilter(self, obj: QObject, event: QEvent) -> bool:
            if not self.done and event.type() == QEvent.Type.Paint and isinstance(obj, QMainWindow):
                self.done = True
                print(MARKER, flush=True)
            return False

    from desktop.app import application

    app = application()
    watcher = FirstPaint()
    app.installEventFilter(watcher)
    from desktop.entry import main

    assert isinstance(app, QApplication)
    return main(["--home", home, "gui"])


# ---- gui_stall_ms ------------------------------------------------------------------------
def gui_stall_ms(quick: bool) -> Case:
    why = _gui_ready()
    if why:
        return not_measurable("gui_stall_ms", "ms", f"< {STALL_TARGET_MS}", why)
    jobs = 2 if quick else 4
    with fresh_home("gui-stall") as home:
        done = subprocess.run(
            [sys.executable, "-m", "bench.gui", "stall-child", str(home), str(jobs)],
            env=_gui_env(home),
            stdout=subprocess.PIPE,
            text=True,
            cwd=str(ROOT),
            timeout=300,
            check=False,
        )
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    if done.returncode != 0 or not lines:
        return not_measurable(
            "gui_stall_ms",
            "ms",
            f"< {STALL_TARGET_MS}",
            f"the GUI child failed ({done.returncode})",
        )
    data: dict[str, Any] = json.loads(lines[-1])
    if "error" in data:
        return not_measurable("gui_stall_ms", "ms", f"< {STALL_TARGET_MS}", data["error"])
    value = max(data["cold_job_stall_ms"], data["warm_jobs_stall_ms"])
    return Case(
        "gui_stall_ms",
        value,
        "ms",
        f"< {STALL_TARGET_MS}",
        None,
        value < STALL_TARGET_MS,
        note=(
            f"longest event-loop gap (minus the {TIMER_MS} ms timer) while {jobs} demo:sd jobs "
            "(64x64, 8 steps, 4 images each, previews on) run in the window's worker process; the "
            "first job loads the model"
        ),
        details=data,
    )


def _stall_child(home: str, jobs: int) -> dict[str, Any]:
    from PySide6.QtCore import QElapsedTimer, QEventLoop, Qt, QTimer

    from core.request import GenerationRequest
    from desktop.app import application, create_window

    app = application()
    window = create_window(Path(home), modal_errors=False)
    window.show()
    app.processEvents()
    session = window.session
    clock = QElapsedTimer()
    clock.start()
    session.start_worker()  # as `launch` does from the event loop (imports torch here)
    worker_start_ms = clock.elapsed()

    gaps: list[float] = []
    last = [time.perf_counter()]

    def tick() -> None:
        now = time.perf_counter()
        gaps.append(1000 * (now - last[0]) - TIMER_MS)
        last[0] = now

    timer = QTimer()
    timer.setTimerType(Qt.TimerType.PreciseTimer)
    timer.setInterval(TIMER_MS)
    timer.timeout.connect(tick)
    loop = QEventLoop()
    finished: list[int] = []
    bridge = session.bridge

    def on_end(job: Any, *rest: Any) -> None:
        finished.append(job.id)
        loop.quit()

    bridge.jobDone.connect(on_end)
    bridge.jobFailed.connect(on_end)
    bridge.jobCancelled.connect(on_end)
    request = GenerationRequest(
        task="text2img",
        model="demo:sd",
        prompt="a lighthouse on a cliff at dusk, oil painting",
        seed=1234,
        steps=8,
        width=64,
        height=64,
        batch_count=4,
    )
    stalls: list[float] = []
    failed = []
    for _ in range(jobs):
        job = session.queue(request)[0]
        gaps.clear()
        last[0] = time.perf_counter()
        timer.start()
        guard = QTimer.singleShot(120_000, loop.quit)
        del guard
        while job.id not in finished:
            loop.exec()
            if job.id not in finished and not session.worker_running:
                break
        # the window's own reaction to the new outputs (history refresh, thumbnails)
        settle = QEventLoop()
        QTimer.singleShot(500, settle.quit)
        settle.exec()
        timer.stop()
        stalls.append(max(gaps) if gaps else 0.0)
        job_now = session.jobs.get(job.id)
        if job_now is None or job_now.status != "done":
            failed.append(job.id)
    window.close()
    session.close()
    if failed:
        return {"error": f"GUI jobs {failed} did not finish"}
    return {
        "cold_job_stall_ms": stalls[0],
        "warm_jobs_stall_ms": max(stalls[1:]) if len(stalls) > 1 else 0.0,
        "per_job_stall_ms": stalls,
        "worker_start_blocking_ms": float(worker_start_ms),
    }


if __name__ == "__main__":
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    if sys.argv[1] == "start-child":
        sys.exit(_start_child(sys.argv[2]))
    if sys.argv[1] == "stall-child":
        try:
            result = _stall_child(sys.argv[2], int(sys.argv[3]))
        except Exception as exc:  # reported as "not measurable", with the reason
            import traceback

            traceback.print_exc()
            result = {"error": f"{type(exc).__name__}: {exc}"}
        print(json.dumps(result), flush=True)
        sys.stderr.flush()
        # The figures are out. Skip the interpreter's teardown: garbage-collecting this child's
        # Qt objects at exit crashed it about one run in three ("bool_dealloc", PySide6 6.12),
        # after the window, the worker and the library had closed.
        os._exit(0)
