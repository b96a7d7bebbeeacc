"""A cheap per-step preview: latents -> RGB through a fixed linear map (no VAE decode)."""

from __future__ import annotations

from typing import Any

# Approximate latent -> RGB factors (rows: the 4 latent channels), as used by many SD UIs.
_SD_FACTORS = [
    [0.298, 0.207, 0.208],
    [0.187, 0.286, 0.173],
    [-0.158, 0.189, 0.264],
    [-0.184, -0.271, -0.473],
]
_SDXL_FACTORS = [
    [0.3920, 0.4054, 0.4549],
    [-0.2634, -0.0196, 0.0653],
    [0.0568, 0.1687, -0.0755],
    [-0.3112, -0.2359, -0.2076],
]


def latents_preview(latents: Any, sdxl: bool = False) -> Any:
    """A small PIL image of the first latent in a batch; runs in the worker thread."""
    import torch
    from PIL import Image

    lat = latents[0].detach().float().cpu()
    if lat.shape[0] != 4:
        lat = lat[:4]
    factors = torch.tensor(_SDXL_FACTORS if sdxl else _SD_FACTORS, dtype=torch.float32)
    rgb = torch.einsum("chw,cr->hwr", lat, factors)
    rgb = ((rgb + 1.0) * 127.5).clamp(0, 255).to(torch.uint8).numpy()
    return Image.fromarray(rgb, "RGB")
