"""Normalization statistics as LeRobot keeps them: min, max, mean, std and count per feature.

Vectors get one value per dimension (shape ``(D,)``), scalars shape ``(1,)``, and images
one value per channel in [0, 1], shape ``(3, 1, 1)``. Per-episode statistics are combined
exactly (counts-weighted means, pooled variances), so a dataset's stats never need a
second pass over its frames.
"""

from __future__ import annotations

import numpy as np

STAT_NAMES = ("min", "max", "mean", "std", "count")


def vector_stats(values: np.ndarray) -> dict[str, np.ndarray]:
    """Stats of ``(N,)`` or ``(N, D)`` values over the frame axis."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 1:
        array = array[:, None]
    return {
        "min": array.min(axis=0),
        "max": array.max(axis=0),
        "mean": array.mean(axis=0),
        "std": array.std(axis=0),
        "count": np.array([len(array)]),
    }


def image_stats(images: np.ndarray) -> dict[str, np.ndarray]:
    """Exact per-channel stats of ``(N, H, W, C)`` uint8 images, scaled to [0, 1]; count is frames.

    Computed from each channel's 256-bin histogram: no float copy of the pixels.
    """
    channels = images.shape[-1]
    pixels = images.reshape(-1, channels)
    histogram = np.stack([np.bincount(pixels[:, c], minlength=256) for c in range(channels)]).astype(np.float64)
    levels = np.arange(256) / 255.0
    total = histogram.sum(axis=1)
    mean = histogram @ levels / total
    variance = (histogram * (levels[None, :] - mean[:, None]) ** 2).sum(axis=1) / total
    present = histogram > 0
    stats = {
        "min": levels[present.argmax(axis=1)],
        "max": levels[255 - present[:, ::-1].argmax(axis=1)],
        "mean": mean,
        "std": np.sqrt(variance),
    }
    return {**{name: value.reshape(-1, 1, 1) for name, value in stats.items()}, "count": np.array([len(images)])}


def aggregate(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Exact stats of the union of the frames behind ``parts`` (one feature's stats each)."""
    counts = np.array([int(p["count"][0]) for p in parts], dtype=np.float64)
    total = counts.sum()
    weights = (counts / total).reshape(-1, *[1] * np.ndim(parts[0]["mean"]))
    means = np.stack([p["mean"] for p in parts])
    mean = (weights * means).sum(axis=0)
    variance = (weights * (np.stack([p["std"] for p in parts]) ** 2 + (means - mean) ** 2)).sum(axis=0)
    return {
        "min": np.min(np.stack([p["min"] for p in parts]), axis=0),
        "max": np.max(np.stack([p["max"] for p in parts]), axis=0),
        "mean": mean,
        "std": np.sqrt(variance),
        "count": np.array([int(total)]),
    }
