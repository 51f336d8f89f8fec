"""Check an exported policy against the torch model on real observations, and time it."""

from __future__ import annotations

import time

import numpy as np
import onnxruntime as ort

from robostral.runtime.session import run_policy

PARITY_TOLERANCE = 1e-4  # joint units (rad or m), max abs between ONNX Runtime and torch


def max_abs_difference(session: ort.InferenceSession, inputs: dict[str, np.ndarray], expected: np.ndarray) -> float:
    """Largest |ONNX - expected| over the batch, comparing one sample at a time and the whole batch."""
    batched = run_policy(session, inputs)
    singles = np.concatenate([run_policy(session, {k: v[i : i + 1] for k, v in inputs.items()}) for i in range(4)])
    return max(float(np.abs(batched - expected).max()), float(np.abs(singles - expected[:4]).max()))


def latency_ms(
    sessions: dict[str, ort.InferenceSession], inputs: dict[str, np.ndarray], calls: int = 200, rounds: int = 5,
) -> dict[str, dict[str, float]]:
    """Batch-1 latency percentiles (ms) of each session over ``calls`` calls after a warm-up.

    The calls are interleaved in ``rounds`` (every session's share of a round back to back), so that the
    machine's noise hits every session alike and their ratio means something.
    """
    single = {k: v[:1] for k, v in inputs.items()}
    for session in sessions.values():
        for _ in range(20):
            run_policy(session, single)
    times: dict[str, list[float]] = {name: [] for name in sessions}
    for _ in range(rounds):
        for name, session in sessions.items():
            for _ in range(max(1, calls // rounds)):
                start = time.perf_counter()
                run_policy(session, single)
                times[name].append((time.perf_counter() - start) * 1000)
    return {name: {"p50": float(np.percentile(t, 50)), "p99": float(np.percentile(t, 99))} for name, t in times.items()}
