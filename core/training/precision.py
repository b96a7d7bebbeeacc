"""Mixed precision for the training loop: autocast around the forward pass, and for fp16 a
gradient scaler (its state is saved in checkpoints, so a resumed run scales as an uninterrupted
one would). The trained weights and the optimizer stay float32.

- "no": float32 throughout (the default, and what every recorded figure used).
- "fp16": CUDA only (autocast float16 + GradScaler); refused elsewhere, naming the field.
- "bf16": autocast bfloat16 (no scaler: bfloat16 has float32's range), on CUDA or the CPU.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from core.errors import BadInput

MIXED_PRECISION = ("no", "fp16", "bf16")


def check_precision(mixed_precision: str, device: str) -> None:
    """BadInput naming `mixed_precision` for a value or a device that cannot train with it."""
    if mixed_precision not in MIXED_PRECISION:
        raise BadInput(
            "mixed_precision",
            f"{mixed_precision!r}: expected one of {', '.join(MIXED_PRECISION)}",
        )
    kind = device.split(":")[0]
    if mixed_precision == "fp16" and kind != "cuda":
        raise BadInput(
            "mixed_precision",
            f"fp16 trains on CUDA only (the device is {device}); use bf16 or no",
        )
    if mixed_precision == "bf16" and kind not in ("cuda", "cpu"):
        raise BadInput(
            "mixed_precision", f"bf16 trains on CUDA or the CPU (the device is {device}); use no"
        )


class Precision:
    """What the loop calls: `autocast()` around the loss, `backward(loss)`, `step(...)`."""

    def __init__(self, mixed_precision: str, device: str) -> None:
        import torch

        self.device_type = device.split(":")[0]
        self.dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(mixed_precision)
        fp16 = mixed_precision == "fp16"
        self.scaler = torch.amp.GradScaler(self.device_type) if fp16 else None

    @contextlib.contextmanager
    def autocast(self) -> Iterator[None]:
        if self.dtype is None:
            yield
            return
        import torch

        with torch.autocast(self.device_type, dtype=self.dtype):
            yield

    def backward(self, loss: Any) -> None:
        (self.scaler.scale(loss) if self.scaler is not None else loss).backward()

    def step(self, optimizer: Any, parameters: list[Any], max_norm: float) -> None:
        """Clip the (unscaled) gradients to `max_norm` and step; with fp16, a step whose
        gradients overflowed is skipped and the scale lowered."""
        import torch

        if self.scaler is not None:
            self.scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(parameters, max_norm)
        if self.scaler is None:
            optimizer.step()
            return
        self.scaler.step(optimizer)
        self.scaler.update()

    def state_dict(self) -> dict[str, Any]:
        return {} if self.scaler is None else dict(self.scaler.state_dict())

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.scaler is not None and state:
            self.scaler.load_state_dict(state)
