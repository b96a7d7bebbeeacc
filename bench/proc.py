"""A benchmark worker process, driven by the parent over stdin/stdout (one JSON object a line).

`python -m bench.proc app HOME` runs requests through the whole app path: the queue, the
worker, the engine, the PNG with its record, the library. `python -m bench.proc bare` runs the
same settings through a bare diffusers pipeline (no files written). The parent alternates
between an app process and a bare process so the two are measured interleaved, in one run,
each in its own process (so each one's peak RSS is its own).

Commands: {"op": "run", "spec": {...}, "seed": N} -> {"seconds", "pixels"};
{"op": "queue", "spec", "seeds": [...]} -> {"seconds"}; {"op": "drain", "count": N} ->
{"seconds": [per job], "engine_s": [per job]}; {"op": "loop", "spec", "seeds"} -> {"seconds"};
{"op": "rss"} -> {"peak_mb", "current_mb"}; {"op": "quit"}.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # what core sets; the bare side too


def peak_rss_mb() -> float:
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def current_rss_mb() -> float:
    try:
        import psutil

        return float(psutil.Process().memory_info().rss) / (1024 * 1024)
    except ImportError:  # pragma: no cover - psutil is optional
        return float("nan")


class AppSide:
    """Library + Generator + Worker, as `atelier queue run` has them."""

    def __init__(self, home: Path) -> None:
        from core.engine.runner import Engine
        from core.generation import Generator
        from core.library import Library
        from core.queue.worker import Worker

        self.library = Library.open(home)
        self.generator = Generator(self.library, Engine())
        self.worker = Worker(self.library, self.generator)
        self.jobs = self.library.jobs
        self.live: Worker | None = None  # `run`'s worker, serving from its first use
        self._ended: tuple[int, str] | None = None  # the last job `live` ended, and how
        self._ended_at = 0.0  # when

    def _request(self, spec: dict[str, Any], seed: int) -> Any:
        from core.request import GenerationRequest

        return GenerationRequest(task="text2img", seed=seed, **spec)

    def run(self, spec: dict[str, Any], seed: int) -> dict[str, Any]:
        """One image: queued, claimed, generated, written and recorded, by a worker already
        serving (one recovery pass and one heartbeat thread for all its jobs, as the window's
        worker process and `atelier queue run` have): timed from adding the job to its
        `job_done` event, which comes after the run's commit.

        The job runs in this process's main thread, as in the app's worker processes (until
        2026-12-04 the bench's worker ran in a thread of its own; with glibc's default malloc
        that cost a 256x256 SD 1.5-sized image about 19%, see `core.engine.malloc`).
        """

        worker = self._serving_worker()
        self._ended = None
        started = time.perf_counter()
        [job] = self.library.queue.submit(self._request(spec, seed), project="bench")
        worker.run_one()
        if self._ended != (job.id, "done"):
            raise RuntimeError(f"job {job.id} did not finish: {self.jobs.get(job.id)}")
        seconds = self._ended_at - started
        output, run = self._made(job.id)
        return {
            "seconds": seconds,
            "engine_s": self._engine_s(job.id),
            "pixels": output.pixel_sha256 if output else "",
            "threads": json.loads(run.request_json)["threads"] if run else None,
        }

    def _serving_worker(self) -> Any:
        from contextlib import ExitStack

        from core.queue.worker import Worker, WorkerEvents

        if self.live is None:

            def ended(outcome: str) -> Any:
                def call(job: Any, *rest: Any) -> None:
                    self._ended_at = time.perf_counter()
                    self._ended = (job.id, outcome)

                return call

            events = WorkerEvents(
                job_done=ended("done"), job_failed=ended("failed"), job_cancelled=ended("cancelled")
            )
            self.live = Worker(self.library, self.generator, events)
            self._serving = ExitStack()
            self._serving.enter_context(self.live.serving())
        return self.live

    def _stop_live_worker(self) -> None:
        if self.live is not None:
            self._serving.close()
            self.live = None

    def queue(self, spec: dict[str, Any], seeds: list[int]) -> dict[str, Any]:
        from core.queue.jobs import NewJob

        self._stop_live_worker()  # `drain` runs these, in rounds
        started = time.perf_counter()
        self.library.queue.submit_many(
            [NewJob(self._request(spec, s), project="bench") for s in seeds]
        )
        return {"seconds": time.perf_counter() - started}

    def drain(self, count: int) -> dict[str, Any]:
        """Run up to `count` queued jobs as `atelier queue run` does (`Worker.run`); per job:
        the time since the job before it was done, and its engine time."""
        self._stop_live_worker()
        finished: list[float] = []
        self.worker.events.job_done = lambda job, outputs: finished.append(time.perf_counter())
        started = time.perf_counter()
        stats = self.worker.run(until_empty=True, limit=count)
        self.worker.events.job_done = None
        if stats.done != len(stats.job_ids):
            raise RuntimeError(f"a job did not finish: {stats}")
        seconds = [b - a for a, b in zip([started, *finished], finished, strict=False)]
        return {"seconds": seconds, "engine_s": [self._engine_s(i) for i in stats.job_ids]}

    def _made(self, job_id: int) -> tuple[Any, Any]:
        """The job's first output and its run (None, None before it is done)."""
        output = self.library.runs.first_output_of_job(job_id)
        run = self.library.runs.get_run(output.run_id) if output is not None else None
        return output, run

    def _pixels(self, job_id: int) -> str:
        output, _ = self._made(job_id)
        return str(output.pixel_sha256) if output else ""

    def _engine_s(self, job_id: int) -> float:
        _, run = self._made(job_id)
        return float(json.loads(run.timings_json).get("total_s", 0.0)) if run else 0.0


class BareSide:
    """The bare diffusers script: one pipeline, called image by image."""

    def __init__(self) -> None:
        self.pipes: dict[str, Any] = {}

    def _pipe(self, spec: dict[str, Any]) -> Any:
        path = self._folder(spec["model"])
        if path not in self.pipes:
            from diffusers import StableDiffusionPipeline

            pipe = StableDiffusionPipeline.from_pretrained(
                path,
                local_files_only=True,
                safety_checker=None,
                feature_extractor=None,
                requires_safety_checker=False,
            )
            pipe.set_progress_bar_config(disable=True)
            self.pipes[path] = pipe
        return self.pipes[path]

    @staticmethod
    def _folder(model: str) -> str:
        if model.startswith("demo:"):
            from core.models.demo import demo_model_path

            return str(demo_model_path(model))
        return model

    def _image(self, spec: dict[str, Any], seed: int) -> Any:
        import torch

        if spec.get("threads"):  # the count the app resolved for the same request
            torch.set_num_threads(spec["threads"])
        pipe = self._pipe(spec)
        if spec.get("scheduler") not in (None, "default"):
            from core.engine.schedulers import make_scheduler

            pipe.scheduler = make_scheduler(spec["scheduler"], pipe.scheduler.config)
        return pipe(
            prompt=spec.get("prompt", ""),
            negative_prompt=spec.get("negative_prompt") or None,
            num_inference_steps=spec["steps"],
            guidance_scale=spec["cfg_scale"],
            width=spec["width"],
            height=spec["height"],
            generator=torch.Generator("cpu").manual_seed(seed),
            output_type="pil",
        ).images[0]

    def run(self, spec: dict[str, Any], seed: int) -> dict[str, Any]:
        from core.records import pixel_sha256

        self._pipe(spec)  # loading is not part of the per-image time (it is warm-up)
        started = time.perf_counter()
        image = self._image(spec, seed)
        seconds = time.perf_counter() - started
        return {"seconds": seconds, "pixels": pixel_sha256(image)}

    def loop(self, spec: dict[str, Any], seeds: list[int]) -> dict[str, Any]:
        self._pipe(spec)
        seconds = []
        for seed in seeds:
            started = time.perf_counter()
            self._image(spec, seed)
            seconds.append(time.perf_counter() - started)
        return {"seconds": seconds}


class Proc:
    """The parent's handle on a benchmark worker process."""

    def __init__(
        self,
        side: str,
        home: Path | None = None,
        env: dict[str, str] | None = None,
        wait: bool = True,
    ) -> None:
        """Start the process; with `wait` False, `ready()` waits for it (so two processes
        can start at once)."""
        import subprocess

        from bench.common import bench_env

        args = [sys.executable, "-m", "bench.proc", side]
        if home is not None:
            args.append(str(home))
        self.side = side
        self.popen = subprocess.Popen(
            args,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**bench_env(), **(env or {})},
            cwd=str(Path(__file__).resolve().parent.parent),
        )
        self.started: dict[str, Any] = {}
        if wait:
            self.ready()

    def ready(self) -> Proc:
        if not self.started:
            self.started = self._read()
        return self

    def call(self, op: str, **kwargs: Any) -> dict[str, Any]:
        assert self.popen.stdin is not None
        self.popen.stdin.write(json.dumps({"op": op, **kwargs}) + "\n")
        self.popen.stdin.flush()
        reply = self._read()
        if "error" in reply:
            raise RuntimeError(f"{self.side} process: {reply['error']}")
        return reply

    def _read(self) -> dict[str, Any]:
        assert self.popen.stdout is not None
        line = self.popen.stdout.readline()
        if not line:
            code = self.popen.wait()
            raise RuntimeError(f"{self.side} process ended (exit {code}); see its stderr")
        data: dict[str, Any] = json.loads(line)
        return data

    def close(self) -> None:
        if self.popen.poll() is None:
            try:
                assert self.popen.stdin is not None
                self.popen.stdin.write(json.dumps({"op": "quit"}) + "\n")
                self.popen.stdin.close()
                self.popen.wait(timeout=30)
            except Exception:
                self.popen.kill()
                self.popen.wait()

    def __enter__(self) -> Proc:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def serve(side: AppSide | BareSide) -> None:
    out = sys.stdout
    sys.stdout = sys.stderr  # library chatter must not break the protocol
    out.write(json.dumps({"ready": True, "peak_mb": peak_rss_mb()}) + "\n")
    out.flush()
    for line in sys.stdin:
        cmd = json.loads(line)
        op = cmd.pop("op")
        try:
            if op == "quit":
                break
            if op == "rss":
                reply: dict[str, Any] = {"peak_mb": peak_rss_mb(), "current_mb": current_rss_mb()}
            else:
                reply = getattr(side, op)(**cmd)
        except Exception as exc:
            traceback.print_exc()
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        out.write(json.dumps(reply) + "\n")
        out.flush()


def main(argv: list[str]) -> int:
    from core.engine.pipelines import quiet_libraries

    quiet_libraries()
    side: AppSide | BareSide = AppSide(Path(argv[1])) if argv[0] == "app" else BareSide()
    serve(side)
    if isinstance(side, AppSide):
        side._stop_live_worker()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
