"""Schedulers by stable name, so a request never depends on a diffusers class name."""

from __future__ import annotations

from typing import Any

from core.errors import BadInput

# name -> (diffusers class, config overrides)
SCHEDULERS: dict[str, tuple[str, dict[str, Any]]] = {
    "ddim": ("DDIMScheduler", {}),
    "ddpm": ("DDPMScheduler", {}),
    # PRK warm-up steps fail below 3 steps; Stable Diffusion's own PNDM config skips them too
    "pndm": ("PNDMScheduler", {"skip_prk_steps": True}),
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
    if name == "dpm2_a" and dict(base_config).get("beta_schedule") == "squaredcos_cap_v2":
        # its first ancestral step moves all the noise into the "up" part there: the midpoint
        # sigma is 0, and diffusers turns it into a NaN timestep and a black image
        raise BadInput(
            "scheduler",
            "dpm2_a makes NaN (black) images on this model's cosine (squaredcos_cap_v2) noise "
            "schedule; choose another scheduler, such as dpm2 or euler_a",
        )
    cls_name, overrides = SCHEDULERS[name]
    cls = _starting_at_first_step(getattr(diffusers, cls_name))
    return cls.from_config(base_config, **overrides)


_STARTING: dict[Any, Any] = {}


def _starting_at_first_step(cls: Any) -> Any:
    """`cls`, made to start every run at its first sigma.

    Karras sigmas on a cosine ("squaredcos_cap_v2") schedule map the first two sigmas to the
    same integer timestep. diffusers then takes the *second* match as the first step's index
    (meant for an img2img run entering mid-schedule), walks off the end of its sigmas and
    fails with an IndexError: dpmpp_2m_karras did at every step count on the demo models.
    Here a new schedule begins at index 0; pipelines that enter mid-schedule (img2img,
    inpaint, depth, the SDXL refiner) still set their own begin index after set_timesteps.
    The subclass keeps its parent's name, so records and `scheduler_name` are unchanged."""
    if not hasattr(cls, "set_begin_index"):
        return cls
    if cls not in _STARTING:

        def set_timesteps(self: Any, *args: Any, **kwargs: Any) -> None:
            cls.set_timesteps(self, *args, **kwargs)
            self.set_begin_index(0)

        _STARTING[cls] = type(cls.__name__, (cls,), {"set_timesteps": set_timesteps})
    return _STARTING[cls]
