"""The results: `bench/results.json` and the table in `docs/benchmarks.md`."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bench.common import BENCH_DIR, ROOT, Case

RESULTS = BENCH_DIR / "results.json"
DOC = ROOT / "docs" / "benchmarks.md"
ORDER = (
    "overhead_small", "overhead_small_aa", "overhead_sd15", "switch", "switch_second_model",
    "switch_memory_mb",
    "queue_throughput", "queue_fixed_ms", "history_p95_ms", "history_p50_ms", "gui_stall_ms",
    "gui_pickup_ms", "gui_reproduce_s", "gui_start_s", "help_s", "rss_demo_mb", "rss_sd15_mb",
    "omp_passive_small", "malloc_hugetlb_sd15",
    "cluster_jobs_per_s", "cluster_ray_ms", "cluster_head_images_per_s",
)  # fmt: skip

METHOD = """\
## Method, per case

Every case runs the app and its baseline in one run, interleaved, and reports medians (or
p50/p95). Worker processes are separate (`bench/proc.py`): an **app** process (library,
generator, worker: a job is queued, claimed, run, written as a PNG with its record and
committed) and a **bare** process (`StableDiffusionPipeline.from_pretrained(folder,
local_files_only=True, safety_checker=None, ...)`, same prompt, steps, guidance, size,
scheduler and CPU seed, `output_type="pil"`, nothing written). Both set
`OMP_WAIT_POLICY=PASSIVE` and start with `GLIBC_TUNABLES=glibc.malloc.hugetlb=1`, as the app's
engine processes do (since 2026-12-04; malloc_hugetlb_sd15 shows what that gains); one is idle
while the other works. The app's jobs run in its process's main thread, as in `atelier queue
run` and the window's worker process (until 2026-12-04 the bench ran them in a worker
thread). Every case's library file is created before its processes start (as the app's first
start does once), so they open an existing library, as a worker or a window usually does.

- **overhead_small / overhead_sd15**: per-image time ratio app / bare, alternating image by
  image (ABBA) after a warm-up image on each side; the images must be pixel-identical
  (`details.pixel_identical`). The ratio is the **geometric mean of the pairs' ratios** (each
  pair: one image a side, back to back), with its 95% interval (`details.ratio_ci95`); the ratio
  of the two sides' medians is kept as `details.ratio_of_medians`. An image's time on this VM
  drifts by 10-15% over seconds, and neighbouring images drift together (autocorrelation 0.65
  at one image), so each pair's ratio cancels most of the drift: in six A/A runs of 100 pairs
  in one process, the ratio of medians read 0.967-1.030 where the pairs' geometric mean read
  0.981-1.012 (the case was the ratio of medians before 2026-12-03, late). overhead_small
  runs **6 pairs of processes, 20 images a side each** (each pair started anew and together,
  the app's process in the first or the second slot by turns;
  `details.ratio_per_process_pair` has each pair's own): a process can keep an
  offset of its own (one bare-against-bare pair of processes read 1.054 over 100 pairs, three
  others 0.98-1.00). It was 12 pairs of processes with 6 images a side, and before 2026-12-03 one
  pair with 80. **overhead_small_aa** (no target) runs the same method with the bare script
  on both sides: how far from 1.0 the method reads when nothing differs. Each app image is one
  job added to a worker thread that is already running (as the window's worker process and
  `atelier queue run` have one), timed from adding the job to its `job_done` event, which
  follows the run's commit: the claim, prepare, engine, PNG, store write and transaction are all
  inside. Until 2026-12-03 each image started `Worker.run(until_empty=True)` anew, which added a
  recovery pass, a heartbeat thread and a last empty claim per image that a running worker pays
  once. `details.median_pair_difference_ms` is the median of app minus bare, pair by pair. Every
  image has the bench's one prompt, as a batch or a sweep does: since 2026-12-03 the app keeps a
  prompt's text embeddings between jobs (`core.engine.prompts`, bit-identical pixels), so it
  encodes the prompt once per process, while the bare script encodes it every image, as a bare
  loop does (about 6 ms of a demo:sd image here). `details.app_fixed_ms` (the app's wall time
  minus its engine's own `total_s`, median) is what the app adds around the model, which the
  kept embeddings do not hide. The bare side runs with the torch thread count the app resolved
  for the same request (`details.threads`: one below 256x256 on the CPU). The SD 1.5-sized model
  (`bench/sd15.py`) is built from the published SD 1.5 configs with random weights (UNet
  320/640/1280/1280, cross-attention 768, head dim 8; VAE 128/256/512/512; CLIP text encoder 768
  x 12 layers) into `bench/.cache/sd15-random` and used through the app as a model path. On a
  CPU a 512x512 image of it takes about 40 s at one step (20 s the UNet with guidance, 20 s the
  VAE decode), so this case uses **1 step and 4 pairs** in one pair of processes, after a
  512x512 warm-up on each side (before 2026-12-03, late: 2 steps, 2 pairs).
- **switch**: on one model, the first switch text2img -> img2img -> inpaint (the run's
  `load_s`: cache lookup and `from_pipe`) versus loading that pipeline class anew with
  `from_pretrained`. **switch_second_model**: back to the first model after a second one
  (LRU cache of two) versus the first model's cold load. **switch_memory_mb**: RSS added by
  the img2img and inpaint pipelines on the loaded model versus one pipeline loaded anew.
- **queue_throughput**: 200 jobs on demo:sd (64x64, 4 steps) in 5 pairs of processes (started
  anew, like overhead_small's, since 2026-12-03 late; one pair before), each queuing 40 at once
  (one transaction) and draining them in 5 rounds of 8 (`Worker.run(until_empty=True, limit=8)`,
  as `atelier queue run` runs them; 10 rounds of 20 until 2026-12-03, when slow spells of this
  VM fell on one side for seconds) alternating with rounds of the bare loop over the same seeds,
  at the app's thread count; images per second. All jobs share one prompt: the app encodes it
  once (kept embeddings), the bare loop every image. **queue_fixed_ms**: per job, the time since
  the job before it was done minus the engine's own `total_s` (claim, resolve, progress, PNG +
  record, store write, the run's transaction); median.
- **history_p95_ms**: a library made by `Library.open` (real schema, indexes and FTS
  triggers) filled with 100,000 outputs by SQL `executemany` (records ~2 kB), then 30 calls
  each of: the gallery's first page (`runs.list_outputs(limit=100)`), a deep page (random
  offset in the older half), full-text search (common and rare word), task filters (common
  and rare task), project filters and one project's gallery, through
  `History.search(HistoryFilter(...))`; the value is the worst p95 (each query's p50/p95 in
  `details.queries`).
- **gui_stall_ms**: the real window (`desktop.app.create_window`, Qt offscreen) with its
  worker process; a 5 ms precise QTimer records event-loop gaps while demo jobs queued
  through the window's session run; value: the longest gap minus 5 ms (the first job loads
  the model: `details.cold_job_stall_ms`, the others `warm_jobs_stall_ms`).
- **gui_pickup_ms**: the desktop's worker process (`WorkerProcess`, poll 0.3 s as
  `Session.start_worker` has it), idle; a demo:sd job (64x64, 8 steps) is added at a random
  moment of the poll, alternately with the window's wake-up line (`Session.queue` sends it)
  and without it (the baseline: the poll alone); value: median time from the job's commit to
  the child's "started" event (`details.added_to_image_s`: to its "done" event, woken).
  **gui_reproduce_s** (informational): reproduce & verify of one of those images through the
  running worker process (`WorkerProcess.reproduce`) against `atelier reproduce N --json` in
  a new process (the window's way before 2026-12-03), alternating, median of 3; both exact.
- **gui_start_s**: process start of the `atelier` entry point (`desktop.entry.main`) to the
  main window's first paint (an application event filter prints a marker), median of 5.
- **help_s**: `atelier --help` wall time, median of 7.
- **omp_passive_small** (informational): two bare processes on demo:sd at 64x64 with
  torch's default thread count (two here; the app uses one at this size since 2026-12-03),
  one with `OMP_WAIT_POLICY=PASSIVE` (what `core` sets) and one with OpenMP's default
  (threads spin a while before they sleep), interleaved, alone and then beside a process
  that keeps one core busy; the value is passive / default alone.
- **malloc_hugetlb_sd15** (informational): two bare processes on the SD 1.5-sized model at
  256x256, one step, two threads, one started with `glibc.malloc.hugetlb=1` (what the app's
  engine processes start with, `core.engine.malloc`) and one with glibc's defaults, 6 pairs
  interleaved after a warm-up each; the value is the geometric mean of tuned / default, and
  the note has both processes' peak RSS.
- **rss_demo_mb / rss_sd15_mb**: peak RSS (`ru_maxrss`) of the app worker process after its
  jobs, versus the bare process for the same images.
- **cluster_jobs_per_s / cluster_ray_ms / cluster_head_images_per_s** (`bench/cluster.py`,
  docs/cluster.md): a two-node Ray cluster on loopback, one CPU per node, in the bench's own
  process. Jobs per second of demo:sd 64x64 jobs through 2 actors against the local worker
  on the same jobs (baseline); Ray's round trip per job to an actor with no engine (median);
  and what one head records per second when stand-in actors return a precomputed 64x64 image
  at once, 16 jobs in flight on each (goal >= 500/s; `details.gpus_fed_at_4_images_per_s`;
  `details.images_per_s_at_2_in_flight` as first measured; `details.head_thread_cpu_ms_per_image`,
  the head's own thread's CPU per image). The stand-ins, Ray and the head share this machine's
  two cores, so the figure moves with the machine's load.
"""


FINDINGS = Path(__file__).resolve().parent / "findings.md"  # kept by hand, appended


def _version(module: str) -> str:
    try:
        from importlib.metadata import version

        return version(module)
    except Exception:
        return "not installed"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _ram_gb() -> float:
    try:
        import psutil

        return float(psutil.virtual_memory().total) / 2**30
    except ImportError:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")) / 2**30


def _git_revision() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        return out.stdout.strip() + ("+changes" if dirty else "")
    except OSError:
        return "unknown"


def environment() -> dict[str, Any]:
    return {
        "machine": {
            "cpu": _cpu_model(),
            "cores": os.cpu_count(),
            "ram_gb": round(_ram_gb(), 1),
            "os": f"{platform.system()} {platform.release()} ({platform.platform()})",
        },
        "versions": {
            "python": platform.python_version(),
            "torch": _version("torch"),
            "diffusers": _version("diffusers"),
            "transformers": _version("transformers"),
            "atelier": _version("atelier"),
            "pyside6": _version("PySide6_Essentials"),
            "git": _git_revision(),
        },
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def merge(cases: list[Case], keep_previous: bool, measured: str = "") -> dict[str, dict[str, Any]]:
    """The new cases, plus (with `--only`) the previous results of the cases not re-run; each
    new one says when and on what it was `measured`, so merged rows keep their own run."""
    merged: dict[str, dict[str, Any]] = {}
    if keep_previous and RESULTS.is_file():
        with contextlib.suppress(OSError, ValueError):
            merged.update(json.loads(RESULTS.read_text()).get("cases", {}))
    for case in cases:
        merged[case.name] = {**case.to_dict(), "measured": measured}
    ordered = {name: merged[name] for name in ORDER if name in merged}
    ordered.update({k: v for k, v in merged.items() if k not in ordered})
    return ordered


def write(cases: list[Case], command: str, quick: bool, elapsed_s: float, partial: bool) -> None:
    env = environment()
    measured = _run_label(env)
    data = {
        **env,
        "command": command,
        "quick": quick,
        "elapsed_s": round(elapsed_s, 1),
        "cases": merge(cases, keep_previous=partial, measured=measured),
    }
    RESULTS.write_text(json.dumps(data, indent=2) + "\n")
    DOC.parent.mkdir(parents=True, exist_ok=True)
    findings = FINDINGS.read_text() if FINDINGS.is_file() else ""
    DOC.write_text(markdown(data) + ("\n" + findings if findings else ""))


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "**no**"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
    return str(value)


def _run_label(data: dict[str, Any]) -> str:
    """When and on what a run measured: what each case keeps as `measured`."""
    versions = data["versions"]
    return f"{data['date']}, git {versions['git']}, PySide6 {versions['pyside6']}"


def _earlier_rows(data: dict[str, Any]) -> list[str]:
    """Rows kept from earlier runs (`--only` re-runs some cases): which, and when."""
    this = _run_label(data)
    runs: dict[str, list[str]] = {}
    for name, case in data["cases"].items():
        measured = case.get("measured") or "an earlier run (not recorded)"
        if measured != this:
            runs.setdefault(measured, []).append(name)
    return [f"- Kept from {run}: {', '.join(names)}" for run, names in runs.items()]


def markdown(data: dict[str, Any]) -> str:
    machine, versions = data["machine"], data["versions"]
    lines = [
        "# Benchmarks",
        "",
        "`make bench` runs every case (`python -m bench.run`; `--quick` for tiny counts,"
        " `--only NAME,...` for some) and writes `bench/results.json` and this page.",
        "",
    ]
    if data.get("quick"):
        lines += ["> **Quick run** (`--quick`): tiny counts, for checking the harness only.", ""]
    lines += [
        "| case | value | unit | target | baseline | met | notes |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, case in data["cases"].items():
        baseline = _fmt(case.get("baseline"))
        unit = case.get("details", {}).get("baseline_unit")
        if case.get("baseline") is not None and unit:
            baseline += f" {unit}"
        met = case.get("met")
        note = str(case.get("note", "")).replace("|", "\\|")
        value = _fmt(case.get("value"))
        if case.get("unit") == "ratio" and isinstance(case.get("value"), float):
            value = f"{case['value']:.3f}"  # 1.032 against a target of 1.03 must not read 1.03
        lines.append(
            f"| {name} | {value} | {case.get('unit', '')} | "
            f"{case.get('target') or '—'} | {baseline} | {'—' if met is None else _fmt(met)} "
            f"| {note} |"
        )
    lines += [
        "",
        "## Machine, versions, date",
        "",
        f"- CPU: {machine['cpu']}, {machine['cores']} cores; RAM {machine['ram_gb']} GB; "
        f"no GPU used (device cpu, float32)",
        f"- OS: {machine['os']}",
        f"- Python {versions['python']}, torch {versions['torch']}, diffusers "
        f"{versions['diffusers']}, transformers {versions['transformers']}, atelier "
        f"{versions['atelier']} (git {versions['git']}), PySide6 {versions['pyside6']}",
        f"- Date: {data['date']}; the run took {data['elapsed_s']:.0f} s",
        *_earlier_rows(data),
        "",
        "## Commands",
        "",
        "```sh",
        "make bench                                   # everything (about 15 min on 2 CPU cores)",
        ".venv/bin/python -m bench.run --quick        # tiny counts: checks the harness",
        ".venv/bin/python -m bench.run --only help_s,history_p95_ms",
        "```",
        "",
        f"This run: `{data['command']}`. The SD 1.5-sized model is built once into "
        "`bench/.cache/` (about 4 GB, git-ignored); delete the folder to rebuild it.",
        "",
        METHOD,
    ]
    return "\n".join(lines)
