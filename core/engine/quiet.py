"""A quiet first run: the messages and progress bars of torch's libraries stay out of sight.

Loading a model prints, unasked, diffusers' and transformers' progress bars ("Loading pipeline
components", "Loading weights", "Writing model shards" when a demo model is built), their
warnings (transformers' "requires torchvision", diffusers' `torch_dtype` FutureWarning) and
Hugging Face hub bars. A user sees Atelier's own progress and messages; `--verbose` shows the
rest. The command line and the window's worker process call `quiet_libraries` before anything
loads a model. It imports none of those libraries: it sets the environment they read as they
load (which the processes started from here inherit), and reaches a library that is already
loaded through its own switches.
"""

from __future__ import annotations

import os
import sys
import warnings

VERBOSE_ENV = "ATELIER_VERBOSE"
QUIET_ENV = {
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",  # also transformers' bars, which follow the hub's
    "TQDM_DISABLE": "1",  # diffusers' bars: tqdm reads its defaults from TQDM_* variables
    "DIFFUSERS_VERBOSITY": "error",
    "TRANSFORMERS_VERBOSITY": "error",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
}
# Warnings about how the libraries call each other, which a user cannot act on.
QUIET_WARNINGS = (
    (FutureWarning, r".*`torch_dtype` is deprecated"),
    (UserWarning, r".*requires torchvision"),
)


def quiet_libraries(verbose: bool | None = None) -> None:
    """Silence the libraries' own output in this process and the ones it starts, unless
    `verbose` (None: the `ATELIER_VERBOSE` variable decides, so a worker process follows the
    command that started it). A variable the user set already is left as it is."""
    if verbose is None:
        verbose = os.environ.get(VERBOSE_ENV, "") not in ("", "0")
    if verbose:
        os.environ[VERBOSE_ENV] = "1"
        return
    for name, value in QUIET_ENV.items():
        os.environ.setdefault(name, value)
    for category, message in QUIET_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=category)
    if "diffusers" in sys.modules:
        from diffusers.utils import logging as diffusers_logging

        diffusers_logging.set_verbosity_error()
        diffusers_logging.disable_progress_bar()
    if "transformers" in sys.modules:
        from transformers.utils import logging as transformers_logging

        transformers_logging.set_verbosity_error()
        transformers_logging.disable_progress_bar()
