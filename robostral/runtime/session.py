"""ONNX Runtime sessions for policy graphs, tuned for a CPU edge box."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from robostral.bundle.card import POLICY_INPUTS, WRIST_INPUT  # the names the card declares
from robostral.language.runtime import session_options

POLICY_OUTPUT = "actions"


def policy_inputs(wrist_camera: bool) -> tuple[str, ...]:
    """The input names of a policy graph, in the order the network takes them."""
    return (*POLICY_INPUTS, WRIST_INPUT) if wrist_camera else POLICY_INPUTS


DEVICES = ("cpu", "cuda")


def policy_session(path: str | Path, threads: int = 2, device: str = "cpu") -> ort.InferenceSession:
    """A session: ``threads`` intra-op threads, no busy spinning, all graph optimizations.

    ``device="cuda"`` puts the graph on the GPU through ONNX Runtime's CUDA provider
    (the onnxruntime-gpu package), with the CPU for what it cannot run.
    """
    if device not in DEVICES:
        raise ValueError(f"device must be one of {', '.join(DEVICES)}, got {device!r}")
    providers = ["CPUExecutionProvider"]
    if device == "cuda":
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise ValueError("device cuda: this onnxruntime has no CUDAExecutionProvider; install onnxruntime-gpu")
        providers.insert(0, "CUDAExecutionProvider")
    return ort.InferenceSession(str(path), sess_options=session_options(threads), providers=providers)


def run_policy(session: ort.InferenceSession, inputs: dict[str, np.ndarray]) -> np.ndarray:
    """The action chunks (B, K, A) for a batch of inputs keyed by the graph's input names."""
    return session.run([POLICY_OUTPUT], inputs)[0]
