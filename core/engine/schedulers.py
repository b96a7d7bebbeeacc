"""Schedulers by stable name, so a request never depends on a diffusers class name."""

from __future__ import annotations

from typing import Any

from core.errors import BadInput

# name -> (diffusers class, config overrides)
SCHEDULERS: dict[str, tuple[str, dict[str, Any]]] = {
    "ddim": ("DDIMScheduler", {}),
    "ddpm": ("DDPMScheduler", {}),
    "pndm": ("PNDMScheduler", {}),
    "euler": ("EulerDiscreteScheduler", {"use_karras_sigmas": False}),
    "euler_a": ("EulerAncestralDiscreteScheduler", {}),
    "heun": ("HeunDiscreteScheduler", {"use_karras_sigmas": False}),
    "dpm2": ("KDPM2DiscreteScheduler", {"use_karras_sigmas": False}),
    "dpm2_a": ("KDPM2AncestralDiscreteScheduler", {"use_karras_sigmas": False}),
    "dpmpp_2m": (
        "DPMSolverMultistepScheduler",
        {"algorithm_type": "dpmsolver++", "solver_order": 2, "use_karras_sigmas": False},
    ),
    "dpmpp_2m_karras": (
        "DPMSolverMultistepScheduler",
        {"algorithm_type": "dpmsolver++", "solver_order": 2, "use_karras_sigmas": True},
    ),
    "unipc": ("UniPCMultistepScheduler", {}),
    "lcm": ("LCMScheduler", {}),
}


DEFAULT = "default"  # the model's own scheduler, unchanged


def check_scheduler(name: str) -> None:
    if name != DEFAULT and name not in SCHEDULERS:
        raise BadInput(
            "scheduler",
            f"unknown scheduler {name!r}; expected default or one of {', '.join(SCHEDULERS)}",
        )


def scheduler_name(scheduler: Any) -> str | None:
    """The stable name of a scheduler object, or None if it has none."""
    cls = type(scheduler).__name__
    config = dict(scheduler.config)
    for name, (cls_name, overrides) in SCHEDULERS.items():
        if cls_name == cls and all(config.get(k, v) == v for k, v in overrides.items()):
            return name
    return None


def make_scheduler(name: str, base_config: Any) -> Any:
    """A new scheduler `name` built from a model's own scheduler config."""
    import diffusers

    check_scheduler(name)
    cls_name, overrides = SCHEDULERS[name]
    cls = getattr(diffusers, cls_name)
    return cls.from_config(base_config, **overrides)
