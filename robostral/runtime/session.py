"""ONNX Runtime sessions for a bundle's two graphs, tuned for a CPU edge box.

``instruction.onnx`` maps an instruction's embedding to its ``condition`` (the language
features and every FiLM gamma and beta), once per instruction; ``policy.onnx`` maps the
cameras, the proprio and that condition to an action chunk, every step.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from robostral.bundle.card import CONDITION, POLICY_INPUTS, WRIST_INPUT  # the names the card declares
from robostral.language.runtime import session_options

POLICY_OUTPUT = "actions"
LANGUAGE = "language"  # the instruction head's input: the encoder's embedding


def policy_inputs(wrist_camera: bool) -> tuple[str, ...]:
    """A bundle's inputs, in the order the network takes them: the instruction as its embedding."""
    return (*POLICY_INPUTS, WRIST_INPUT) if wrist_camera else POLICY_INPUTS


def step_inputs(wrist_camera: bool) -> tuple[str, ...]:
    """The input names of the per-step policy graph: a bundle's inputs with the condition for the embedding."""
    return tuple(CONDITION if name == LANGUAGE else name for name in policy_inputs(wrist_camera))


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
    """The action chunks (B, K, A) for a batch of inputs keyed by the policy graph's input names."""
    return session.run([POLICY_OUTPUT], inputs)[0]


def run_instruction_head(session: ort.InferenceSession, language: np.ndarray) -> np.ndarray:
    """The conditions (B, condition_dim) of a batch of instruction embeddings (B, language_dim)."""
    return session.run([CONDITION], {LANGUAGE: language})[0]


def step_feeds(instruction_head: ort.InferenceSession, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A bundle's inputs (keyed as ``policy_inputs``) as the policy graph's: the embeddings through the head."""
    feeds = {name: value for name, value in inputs.items() if name != LANGUAGE}
    return feeds | {CONDITION: run_instruction_head(instruction_head, inputs[LANGUAGE])}
