"""`atelier`: the command line over the core. Heavy imports happen inside the commands.

Exit codes: 0 success, 1 the work failed (the message says why), 2 bad usage or bad input.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from core import __version__
from core.errors import AtelierError, BadInput

TASK_CHOICES = ("text2img", "img2img", "inpaint", "upscale", "depth")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="atelier",
        description="Batch Stable Diffusion that keeps every image reproducible. "
        "With no command, opens the desktop window.",
    )
    parser.add_argument("--version", action="version", version=f"atelier {__version__}")
    home_help = "library folder (default: $ATELIER_HOME, else the user data folder)"
    parser.add_argument("--home", type=Path, help=home_help)
    # --home is also accepted after the command: `atelier generate --home DIR ...`
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--home", type=Path, default=argparse.SUPPRESS, help=home_help)
    sub = parser.add_subparsers(
        dest="command", metavar="COMMAND", parser_class=_parser_with(common)
    )

    gen = sub.add_parser("generate", help="make images now and record them")
    add_generate_options(gen)
    gen.add_argument("--out", type=Path, help="also write the PNG files into this folder")
    gen.add_argument("--json", action="store_true", help="print the outputs as JSON")

    models = sub.add_parser("models", help="model variants in the library")
    msub = models.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    add = msub.add_parser("add", help="add a folder, a .safetensors file or a hub id")
    add.add_argument("source", help="folder, file, hub id (org/name[@revision]) or demo:NAME")
    add.add_argument("--name", required=True, help="the name to use it by")
    add.add_argument("--config", help="local diffusers folder with the configs a single file needs")
    add.add_argument("--revision", help="hub revision (branch, tag or commit)")
    add.add_argument(
        "--allow-pickle",
        action="store_true",
        help="allow this .ckpt/.pt file (pickled weights can run code: only for files you trust)",
    )
    lst = msub.add_parser("list", help="list model variants")
    lst.add_argument("--json", action="store_true")
    ver = msub.add_parser("verify", help="hash the weights again and compare with the record")
    ver.add_argument("name")
    rem = msub.add_parser("remove", help="forget a model variant (its files stay)")
    rem.add_argument("name")

    hist = sub.add_parser("history", help="outputs made so far")
    hsub = hist.add_subparsers(dest="history_command", metavar="ACTION", required=True)
    hl = hsub.add_parser("list", help="newest outputs first")
    hl.add_argument("--project")
    hl.add_argument("--limit", type=int, default=50)
    hl.add_argument("--offset", type=int, default=0)
    hl.add_argument("--json", action="store_true")
    hq = hsub.add_parser("search", help="full-text search over prompts and negative prompts")
    hq.add_argument("text")
    _add_history_filters(hq)
    hq.add_argument("--limit", type=int, default=50)
    hq.add_argument("--offset", type=int, default=0)
    hq.add_argument("--json", action="store_true")
    he = hsub.add_parser("export", help="every output (or the filtered ones) as JSON or CSV")
    he.add_argument("--format", choices=("json", "csv"), default="json")
    he.add_argument("--search", metavar="TEXT", help="only outputs whose prompts match")
    _add_history_filters(he)
    he.add_argument("--out", type=Path, help="write to this file (default: standard output)")
    hd = hsub.add_parser("delete", help="remove outputs from history and their store files")
    hd.add_argument("output_ids", type=int, nargs="+", metavar="OUTPUT_ID")
    hs = hsub.add_parser("show", help="the full record of one output")
    hs.add_argument("output_id", type=int)
    hs.add_argument("--json", action="store_true")

    demo = sub.add_parser("demo", help="render demo images with the built-in models, offline")
    demo.add_argument(
        "--out", type=Path, default=Path("atelier-demo"), help="folder for the images"
    )
    demo.add_argument("--json", action="store_true")

    from core.cli import cmd_queue

    cmd_queue.add_parsers(sub)
    from core.cli import cmd_grid, cmd_import, cmd_reproduce, cmd_train

    cmd_reproduce.add_parser(sub)
    cmd_import.add_parser(sub)
    cmd_grid.add_parser(sub)
    cmd_train.add_parser(sub)
    gui = sub.add_parser("gui", help="open the desktop window")
    gui.add_argument(
        "--smoke-test",
        type=Path,
        metavar="PNG",
        help="open offscreen, queue a demo job, wait, screenshot the window to PNG, exit",
    )
    gui.add_argument(
        "--demo",
        action="store_true",
        help="also queue the demo grid (prompts x guidance on demo:sd) and show it when done",
    )
    return parser


def _add_history_filters(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", help="model name as requested")
    p.add_argument("--task", choices=TASK_CHOICES)
    p.add_argument("--project")
    p.add_argument("--since", help="YYYY-MM-DD (or a full ISO time, UTC)")


def _parser_with(common: argparse.ArgumentParser) -> type[argparse.ArgumentParser]:
    class SubParser(argparse.ArgumentParser):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.setdefault("parents", [common])
            super().__init__(*args, **kwargs)

    return SubParser


def add_generate_options(
    p: argparse.ArgumentParser,
    tasks: tuple[str, ...] = TASK_CHOICES,
    default_task: str | None = "text2img",
    model_required: bool = True,
) -> None:
    """The options of one generation (shared with the queue, batch and grid commands)."""
    p.add_argument(
        "--model", required=model_required, help="library name, demo:NAME, folder, file or hub id"
    )
    p.add_argument("--task", choices=tasks, default=default_task, required=default_task is None)
    p.add_argument("--prompt", default="")
    p.add_argument("--negative", default="", help="negative prompt")
    p.add_argument("--seed", type=int)
    p.add_argument("--steps", type=int)
    p.add_argument("--cfg", type=float, help="guidance (CFG) scale")
    p.add_argument("--width", type=int)
    p.add_argument("--height", type=int)
    p.add_argument(
        "--scheduler", help="ddim, euler, euler_a, dpmpp_2m, dpmpp_2m_karras, unipc, lcm..."
    )
    p.add_argument("--init", help="init image: a file, output:ID or sha256:HEX")
    p.add_argument("--mask", help="inpaint mask (white = repaint): a file or output:ID")
    p.add_argument("--mask-blur", type=int, default=0)
    p.add_argument("--strength", type=float, default=0.75)
    p.add_argument("--depth-map", help="depth map image for the depth task (else estimated)")
    p.add_argument("--noise-level", type=int, default=20, help="upscale noise level")
    p.add_argument("--refiner", help="SDXL refiner model")
    p.add_argument("--high-noise-frac", type=float, default=0.8, help="base/refiner handoff")
    p.add_argument("--lora", action="append", default=[], metavar="PATH[:WEIGHT]")
    p.add_argument(
        "--embedding", action="append", default=[], metavar="PATH", help="textual inversion"
    )
    p.add_argument("--vae", help="VAE override (a diffusers VAE folder)")
    p.add_argument("--clip-skip", type=int)
    p.add_argument("--batch", type=int, default=1, help="number of images (seeds seed, seed+1...)")
    p.add_argument("--batch-size", type=int, default=1, help="images per pipeline call")
    p.add_argument("--device", help="cuda, mps or cpu (default: the best there is)")
    p.add_argument("--dtype", choices=("float32", "float16", "bfloat16"))
    p.add_argument(
        "--threads",
        type=int,
        help="torch CPU threads (default: 1 below 256x256 on the CPU, else torch's own; recorded)",
    )
    p.add_argument("--attention-slicing", action="store_true")
    p.add_argument("--vae-tiling", action="store_true")
    p.add_argument("--cpu-offload", action="store_true")
    p.add_argument("--project", default="default")


def request_from_args(args: argparse.Namespace) -> Any:
    from core.request import EmbeddingRef, GenerationRequest, parse_lora

    return GenerationRequest(
        task=args.task,
        model=args.model,
        prompt=args.prompt,
        negative_prompt=args.negative,
        seed=args.seed,
        steps=args.steps,
        cfg_scale=args.cfg,
        width=args.width,
        height=args.height,
        scheduler=args.scheduler,
        init_image=args.init,
        mask=args.mask,
        mask_blur=args.mask_blur,
        depth_map=args.depth_map,
        strength=args.strength,
        noise_level=args.noise_level,
        refiner=args.refiner,
        high_noise_frac=args.high_noise_frac,
        loras=tuple(parse_lora(x) for x in args.lora),
        embeddings=tuple(EmbeddingRef(path=x) for x in args.embedding),
        vae=args.vae,
        clip_skip=args.clip_skip,
        batch_count=args.batch,
        batch_size=args.batch_size,
        device=args.device,
        dtype=args.dtype,
        threads=args.threads,
        attention_slicing=args.attention_slicing,
        vae_tiling=args.vae_tiling,
        cpu_offload=args.cpu_offload,
    )


def home_dir(args: argparse.Namespace) -> Path:
    if args.home is not None:
        return Path(args.home)
    from core.library import default_home

    return default_home()


GuiLauncher = Callable[[argparse.Namespace], int]


def runs_engine(args: argparse.Namespace) -> bool:
    """Whether the command runs the model in this process (the window's worker is a process of
    its own, started with the same malloc tuning)."""
    if args.command == "queue":
        return bool(args.queue_command == "run")
    if args.command == "batch":
        return bool(args.run)
    return args.command in ("generate", "grid", "reproduce", "demo") or (
        args.command == "train" and bool(args.run)
    )


def main(argv: Sequence[str] | None = None, gui: GuiLauncher | None = None) -> int:
    """Run `atelier`. `gui` opens the window (the desktop package passes it in: the core never
    imports the GUI)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if argv is None and runs_engine(args):  # a process of its own, not a call from a test
        from core.engine.malloc import restart_tuned

        restart_tuned()  # glibc reads its malloc tunables only as a process starts
    if args.command in (None, "gui"):
        if gui is None:
            print(
                "atelier: the desktop GUI is not installed here; see `atelier --help`",
                file=sys.stderr,
            )
            return 1
        return gui(args)
    try:
        from core.cli import commands

        return commands.dispatch(args)
    except BadInput as exc:
        print(f"atelier: error: {exc}", file=sys.stderr)
        return 2
    except AtelierError as exc:
        print(f"atelier: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("atelier: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
