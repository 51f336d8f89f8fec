"""A network as a bundle's two ONNX graphs: the instruction head and the per-step policy.

What the instruction decides (``RobostralS.condition``) is the same at every step of one
instruction, so it is a graph of its own that the runtime runs once per instruction and
caches; the per-step graph (``RobostralS.act``) takes the cameras, the proprio and that
condition. Raw inputs, names as the runtime feeds them, the batch axis dynamic.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from robostral.bundle.card import CONDITION, INSTRUCTION_FILE, POLICY_FILE
from robostral.export.onnx_graph import export_onnx
from robostral.policies.robostral_s.modeling import RobostralS
from robostral.runtime.session import LANGUAGE, POLICY_OUTPUT, policy_session, step_feeds, step_inputs

PRODUCER = "robostral.export"


def _exporting(model: RobostralS, method: str) -> RobostralS:
    """``model`` whose forward is ``method``: a shallow copy sharing its modules, so that the graph names every
    weight as the network does (a wrapper module would prefix them all), which ``bundle_weights`` reads back."""
    view = copy.copy(model)
    view.forward = getattr(model, method)  # an instance attribute, on the copy only
    return view.eval()


def write_instruction_onnx(model: RobostralS, language: np.ndarray, path: Path) -> None:
    """``model.condition`` as ``instruction.onnx``: embeddings (B, language_dim) in, conditions out."""
    graph = export_onnx(_exporting(model, "condition"), (torch.from_numpy(language[:2]),), [LANGUAGE], [CONDITION],
                        {LANGUAGE: {0: "batch"}}, PRODUCER)
    path.write_bytes(graph.SerializeToString())


def write_policy_onnx(model: RobostralS, inputs: dict[str, np.ndarray], path: Path) -> None:
    """``model.act`` as ``policy.onnx``; ``inputs`` keyed as its graph takes them (``step_inputs``)."""
    names = step_inputs(model.config.wrist_camera)
    args = tuple(torch.from_numpy(inputs[name][:2]) for name in names)
    graph = export_onnx(_exporting(model, "act"), args, list(names), [POLICY_OUTPUT],
                        dict.fromkeys(names, {0: "batch"}), PRODUCER)
    path.write_bytes(graph.SerializeToString())


def write_bundle_graphs(
    model: RobostralS, inputs: dict[str, np.ndarray], folder: Path
) -> tuple[ort.InferenceSession, ort.InferenceSession, dict[str, np.ndarray]]:
    """Both graphs of ``model`` into ``folder``: (the instruction head's session, the policy graph's session,
    ``inputs`` as the policy graph takes them, their conditions from the exported head in ONNX Runtime)."""
    write_instruction_onnx(model, inputs[LANGUAGE], folder / INSTRUCTION_FILE)
    head = policy_session(folder / INSTRUCTION_FILE, threads=1)
    steps = step_feeds(head, inputs)
    write_policy_onnx(model, steps, folder / POLICY_FILE)
    return head, policy_session(folder / POLICY_FILE), steps
