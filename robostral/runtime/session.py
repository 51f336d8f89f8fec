"""ONNX Runtime sessions for policy graphs, tuned for a CPU edge box."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from robostral.language.runtime import session_options

POLICY_INPUTS = ("image", "state", "language")
POLICY_OUTPUT = "actions"


def policy_session(path: str | Path, threads: int = 2) -> ort.InferenceSession:
    """A CPU session: ``threads`` intra-op threads, no busy spinning, all graph optimizations."""
    return ort.InferenceSession(str(path), sess_options=session_options(threads), providers=["CPUExecutionProvider"])


def run_policy(session: ort.InferenceSession, inputs: dict[str, np.ndarray]) -> np.ndarray:
    """The action chunks (B, K, A) for a batch of inputs keyed by ``POLICY_INPUTS``."""
    return session.run([POLICY_OUTPUT], {name: inputs[name] for name in POLICY_INPUTS})[0]
