"""Image augmentation for training: random shift (pad and crop) and brightness/contrast jitter.

Works on images (B, H, W, 3), the layout the policy takes: the shift on any dtype (the uint8 frames,
a quarter of the bytes of floats to gather), the jitter on floats in 0..255.
"""

from __future__ import annotations

import torch


def random_shift(images: torch.Tensor, pixels: int, generator: torch.Generator) -> torch.Tensor:
    """Shift each image by up to ``pixels`` in x and y, filling with edge pixels (DrQ-style).

    The same draws and pixels as padding each side by ``pixels`` (edge pixels repeated) and cropping at a
    random offset, gathered straight from the image: a padded row or column is its nearest edge's.
    """
    if pixels <= 0:
        return images
    b, h, w, _ = images.shape
    offsets = torch.randint(0, 2 * pixels + 1, (b, 2), generator=generator) - pixels
    rows = (offsets[:, 0, None] + torch.arange(h)).clamp(0, h - 1)  # (B, H)
    cols = (offsets[:, 1, None] + torch.arange(w)).clamp(0, w - 1)  # (B, W)
    batch = torch.arange(b)[:, None, None]
    return images[batch, rows[:, :, None], cols[:, None, :]]


def color_jitter(images: torch.Tensor, strength: float, generator: torch.Generator) -> torch.Tensor:
    """Scale brightness and contrast of each image by factors within 1 +/- ``strength``."""
    if strength <= 0:
        return images
    b = images.shape[0]
    brightness = 1 + (torch.rand(b, 1, 1, 1, generator=generator) * 2 - 1) * strength
    contrast = 1 + (torch.rand(b, 1, 1, 1, generator=generator) * 2 - 1) * strength
    mean = images.mean(dim=(1, 2, 3), keepdim=True)
    return ((images - mean) * contrast + mean * brightness).clamp(0, 255)
