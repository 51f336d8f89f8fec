"""Image augmentation for training: random shift (pad and crop) and brightness/contrast jitter.

Works on float images (B, H, W, 3) in 0..255, the same layout the policy takes.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F


def random_shift(images: torch.Tensor, pixels: int, generator: torch.Generator) -> torch.Tensor:
    """Shift each image by up to ``pixels`` in x and y, filling with edge pixels (DrQ-style)."""
    if pixels <= 0:
        return images
    b, h, w, _ = images.shape
    padded = F.pad(images.permute(0, 3, 1, 2), (pixels,) * 4, mode="replicate")
    offsets = torch.randint(0, 2 * pixels + 1, (b, 2), generator=generator)
    rows = offsets[:, 0, None] + torch.arange(h)  # (B, H)
    cols = offsets[:, 1, None] + torch.arange(w)  # (B, W)
    batch = torch.arange(b)[:, None, None]
    shifted = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]
    return shifted


def color_jitter(images: torch.Tensor, strength: float, generator: torch.Generator) -> torch.Tensor:
    """Scale brightness and contrast of each image by factors within 1 +/- ``strength``."""
    if strength <= 0:
        return images
    b = images.shape[0]
    brightness = 1 + (torch.rand(b, 1, 1, 1, generator=generator) * 2 - 1) * strength
    contrast = 1 + (torch.rand(b, 1, 1, 1, generator=generator) * 2 - 1) * strength
    mean = images.mean(dim=(1, 2, 3), keepdim=True)
    return ((images - mean) * contrast + mean * brightness).clamp(0, 255)
