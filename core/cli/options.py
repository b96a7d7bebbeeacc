"""What the commands of `atelier` share: the generation options, the request they make, the
library folder, opening the library, JSON on stdout, and how a command registers its handler.

`atelier --help` builds every parser: only the standard library and `core.choices` load here.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

from core.choices import DTYPES, TASKS

if TYPE_CHECKING:
    from core.library import Library
    from core.request import GenerationRequest

HOME_HELP = "library folder (default: $ATELIER_HOME, else the user data folder)"
VERBOSE_HELP = "also show the messages and progress bars of torch, diffusers and transformers"

Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
Handler = Callable[[argparse.Namespace], int]
EngineTest = Callable[[argparse.Namespace], bool]


def set_handler(
    parser: argparse.ArgumentParser, run: Handler, runs_engine: bool | EngineTest = False
) -> None:
    """Make `run` the handler of `parser`'s command. `runs_engine` (or, called on the parsed
    arguments, its answer) says whether the command runs a model in this process."""
    parser.set_defaults(func=run, runs_engine=runs_engine)


def set_action(
    parser: argparse.ArgumentParser, handler: Handler, runs_engine: bool = False
) -> None:
    """Make `handler` the handler of one action of a command group (`models list`, say): the
    group's `run` calls it through `run_action`. `runs_engine` as for `set_handler`."""
    parser.set_defaults(action=handler, runs_engine=runs_engine)


def run_action(args: argparse.Namespace) -> int:
    """Run the action `set_action` chose for the parsed command line."""
    handler: Handler = args.action
    return handler(args)


def add_json_option(parser: argparse.ArgumentParser, help: str = "print JSON") -> None:
    parser.add_argument("--json", action="store_true", help=help)


def add_generate_options(
    p: argparse.ArgumentParser,
    tasks: tuple[str, ...] = TASKS,
    default_task: str | None = "text2img",
    model_required: bool = True,
) -> None:
    """The options of one generation (generate, queue add, batch and grid)."""
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
    p.add_argument("--dtype", choices=DTYPES)
    p.add_argument(
        "--threads",
        type=int,
        help="torch CPU threads (default: 1 below 256x256 on the CPU, else torch's own; recorded)",
    )
    p.add_argument("--attention-slicing", action="store_true")
    p.add_argument("--vae-tiling", action="store_true")
    p.add_argument("--cpu-offload", action="store_true")
    p.add_argument("--project", default="default")


def request_from_args(args: argparse.Namespace) -> GenerationRequest:
    """The request the generation options describe (not yet validated)."""
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
    """`--home`, else $ATELIER_HOME, else the user data folder."""
    home: Path | str | None = getattr(args, "home", None)
    if home is not None:
        return Path(home)
    from core.library import default_home

    return default_home()


@contextmanager
def open_library(args: argparse.Namespace) -> Iterator[Library]:
    """The library at `home_dir(args)`, closed when the block ends."""
    from core.library import Library

    library = Library.open(home_dir(args))
    try:
        yield library
    finally:
        library.close()


def print_json(data: object) -> None:
    """`data` (anything `json` can write) on stdout, indented, keys sorted."""
    print(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False))
