"""`atelier train lora|dreambooth|textual-inversion`: fine-tune a model on a folder of images.

Without `--run` the training run is queued, as a job of kind "train" (`atelier queue run` runs
it, as does the window's worker); with `--run` it runs now, in this process, with a progress line
(step, loss, it/s, ETA). The result is a variant in the library, usable by name
(`--lora NAME:0.8`, `--embedding NAME`, `--model NAME`).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from core.cli.options import Subparsers, open_library, set_handler
from core.training.spec import DEFAULT_LR, DEFAULT_TOKEN, METHODS


def add_parser(sub: Subparsers) -> None:
    p = sub.add_parser("train", help="fine-tune a model: LoRA, DreamBooth or textual inversion")
    set_handler(p, run, runs_engine=lambda args: bool(args.run))
    p.add_argument("method", choices=METHODS)
    p.add_argument("--base", required=True, help="the model to start from (library name, demo:sd)")
    p.add_argument("--images", required=True, help="folder of instance images (name.txt: caption)")
    p.add_argument("--prompt", required=True, help="instance prompt with the identifier")
    p.add_argument(
        "--class-prompt",
        action="append",
        help="DreamBooth: the class (e.g. 'a star'); repeat it (or separate with |) for class "
        "images from several prompts, shared out in order",
    )
    p.add_argument(
        "--class-images",
        type=int,
        default=0,
        help="DreamBooth prior preservation: class images made by the base model (default 0)",
    )
    p.add_argument("--token", help=f"textual inversion: the new token (default {DEFAULT_TOKEN})")
    p.add_argument("--initializer", help="textual inversion: the word the token starts from")
    p.add_argument("--name", required=True, help="the trained variant's name in the library")
    p.add_argument("--steps", type=int, required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--rank", type=int, default=4, help="LoRA rank (default 4)")
    p.add_argument("--alpha", type=float, help="LoRA alpha (default: the rank)")
    lrs = ", ".join(f"{m} {lr:g}" for m, lr in DEFAULT_LR.items())
    p.add_argument("--lr", type=float, help=f"learning rate (defaults: {lrs})")
    p.add_argument("--lr-schedule", choices=("constant", "cosine", "linear"), default="constant")
    p.add_argument("--resolution", type=int, help="training size (default: the model's)")
    p.add_argument("--batch-size", type=int, default=1)
    p.add_argument("--grad-accumulation", type=int, default=1)
    p.add_argument("--train-text-encoder", action="store_true")
    p.add_argument("--checkpoint-every", type=int, default=0, metavar="N")
    p.add_argument(
        "--sample-every",
        type=int,
        default=0,
        metavar="N",
        help="draw samples of the prompt every N steps, into history (default: none)",
    )
    p.add_argument("--project", default="default", help="the project its samples belong to")
    p.add_argument("--threads", type=int, help="torch CPU threads (recorded)")
    p.add_argument("--device", help="cuda, mps or cpu (default: the best there is)")
    p.add_argument(
        "--mixed-precision",
        choices=("no", "fp16", "bf16"),
        default="no",
        help="autocast the forward pass: fp16 (CUDA, with a gradient scaler) or bf16 (CUDA, CPU); "
        "the weights stay float32 (default no)",
    )
    p.add_argument(
        "--gradient-checkpointing",
        action="store_true",
        help="the UNet recomputes activations in the backward pass: less memory, slower",
    )
    p.add_argument(
        "--run", action="store_true", help="train now, in this process (default: queue it)"
    )
    p.add_argument(
        "--json", action="store_true", help="print the trained variant (with --run) or the job"
    )


def spec_from_args(args: argparse.Namespace) -> Any:
    from core.training.spec import TrainingSpec

    return TrainingSpec(
        method=args.method,
        base=args.base,
        images=str(args.images),
        prompt=args.prompt,
        name=args.name,
        steps=args.steps,
        seed=args.seed,
        class_prompt="|".join(args.class_prompt) if args.class_prompt else None,
        class_images=args.class_images,
        token=args.token,
        initializer=args.initializer,
        rank=args.rank,
        alpha=args.alpha,
        lr=args.lr,
        lr_schedule=args.lr_schedule,
        resolution=args.resolution,
        batch_size=args.batch_size,
        grad_accumulation=args.grad_accumulation,
        train_text_encoder=args.train_text_encoder,
        checkpoint_every=args.checkpoint_every,
        sample_every=args.sample_every,
        threads=args.threads,
        device=args.device,
        mixed_precision=args.mixed_precision,
        gradient_checkpointing=args.gradient_checkpointing,
    )


def run(args: argparse.Namespace) -> int:
    from core.cli.progress import TrainingLine
    from core.training.run import train

    spec = spec_from_args(args)
    with open_library(args) as library:
        if not args.run:
            *class_jobs, job = library.queue.submit_training(spec, project=args.project)
            if args.json:
                print(json.dumps(job.to_dict(), indent=2, sort_keys=True))
            else:
                for made in class_jobs:
                    print(f"queued job {made.id}: {made.request.batch_count} class images of "
                          f"{made.request.prompt!r}, before the run")  # fmt: skip
                print(
                    f"queued job {job.id}: {job.task} {spec.name} on {spec.base}, "
                    f"{spec.steps} steps (`atelier queue run` runs it)"
                )
            return 0
        variant = train(
            spec,
            library,
            on_progress=TrainingLine(f"train {args.method} {args.name}"),
            on_note=lambda text: print(text, file=sys.stderr),
            project=args.project,
        )
    if args.json:
        print(json.dumps(variant.to_dict(), indent=2, sort_keys=True))
    else:
        print(
            f"trained {variant.name}: {variant.kind} on {variant.base}, "
            f"fingerprint {variant.fingerprint[:12]}, {variant.path}; "
            f"training run {variant.training_run}"
        )
    return 0
