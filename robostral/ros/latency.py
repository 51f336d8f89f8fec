"""Rolling latency figures (p50/p99 in milliseconds) for nodes to report on /diagnostics."""

from __future__ import annotations

from collections import deque

import numpy as np


class LatencyWindow:
    """The last ``size`` samples of one latency, in seconds."""

    def __init__(self, size: int = 1000) -> None:
        self.samples: deque[float] = deque(maxlen=size)

    def add(self, seconds: float) -> None:
        self.samples.append(seconds)

    def summary(self, name: str) -> dict[str, str]:
        """``{name}_p50_ms`` and ``{name}_p99_ms`` (empty strings before the first sample)."""
        if not self.samples:
            return {f"{name}_p50_ms": "", f"{name}_p99_ms": ""}
        p50, p99 = np.percentile(np.asarray(self.samples) * 1e3, [50, 99])
        return {f"{name}_p50_ms": f"{p50:.2f}", f"{name}_p99_ms": f"{p99:.2f}"}
