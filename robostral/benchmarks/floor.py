"""The machine's compute floor for benches: how fast its fp32 matrix multiply runs on torch's threads."""

from __future__ import annotations

import time

import torch


def sgemm_gflops(size: int, repeats: int = 5) -> float:
    """Best GFLOP/s of a ``size`` x ``size`` fp32 matmul on torch's current threads (the first call untimed)."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9
