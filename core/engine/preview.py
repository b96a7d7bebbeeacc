"""A cheap per-step preview: the model's own VAE decodes the latents pooled down to at most
PREVIEW_LATENT_PX a side (a 64-128 px image), so the preview has the final image's colours.

Fixed latent -> RGB factors copied from other UIs only suit the VAE they were measured on (on
the demo models they showed red for a green result), and a linear map fitted to a VAE missed
the demo models' colours by up to 45 levels. Decoding a 16x16 latent costs about a sixteenth
of a 512 px decode; a latent smaller than 8x8 is decoded as it is. The result is scaled up to
at least MIN_PREVIEW_PX on its short side.
"""

from __future__ import annotations

from typing import Any

MIN_PREVIEW_PX = 64
PREVIEW_LATENT_PX = 16


def latents_preview(latents: Any, vae: Any) -> Any:
    """A PIL image of the first latent in a batch; runs in the worker thread."""
    import torch
    from PIL import Image

    lat = latents[:1].detach()
    height, width = lat.shape[-2:]
    scale = max(1, -(-max(height, width) // PREVIEW_LATENT_PX))  # ceil
    if scale > 1:
        lat = torch.nn.functional.avg_pool2d(lat.float(), scale, ceil_mode=True)
    parameter = next(vae.parameters())
    lat = lat.to(parameter.device, parameter.dtype)
    scaling = float(getattr(vae.config, "scaling_factor", 1.0) or 1.0)
    with torch.no_grad():
        decoded = vae.decode(lat / scaling).sample[0]
    rgb = ((decoded.float().cpu().clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8)
    image = Image.fromarray(rgb.permute(1, 2, 0).numpy(), "RGB")
    short = min(image.size)
    if short < MIN_PREVIEW_PX:
        up = -(-MIN_PREVIEW_PX // short)
        image = image.resize((image.width * up, image.height * up), Image.Resampling.BILINEAR)
    return image
