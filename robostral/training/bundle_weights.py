"""A policy bundle's network back in torch, to fine-tune its open weights or time it against ONNX Runtime.

A bundle is what Robostral ships and trusts; the checkpoint it was exported from
stays on the machine that trained it. Its graphs hold every weight (``instruction.onnx``
what the instruction decides, ``policy.onnx`` the rest; a format-1 bundle has them all in
``policy.onnx``): most under their torch names (the exporter keeps them), the rest folded into constants
of the graph, which are read back from the node that uses them: each GroupNorm's
affine (reshaped to broadcast over the feature map) and each camera's
normalization (one scale and one shift per channel). The rebuilt network must
reproduce the bundle's graph within the export's parity tolerance, or it is refused.
"""

from __future__ import annotations

from collections import deque
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper

from robostral.bundle.card import FORMAT, INSTRUCTION_FILE, POLICY_FILE, BundleError, Card
from robostral.bundle.verify import verify_bundle
from robostral.policies.factory import make_policy, make_policy_config
from robostral.policies.robostral_s.configuration import RobostralSConfig
from robostral.policies.robostral_s.modeling import RobostralS
from robostral.runtime.parity import PARITY_TOLERANCE, max_abs_difference
from robostral.runtime.session import WRIST_INPUT, policy_inputs, policy_session, step_feeds


class BundleWeightsError(ValueError):
    """The bundle's graph does not give back a network that reproduces it."""


def bundle_network_config(card: Card) -> RobostralSConfig:
    """The network a bundle's card describes (its ``network`` section and joint names)."""
    return make_policy_config(card.policy, **card.network_settings, joint_names=list(card.joint_names))


def policy_from_bundle(bundle: str | Path) -> RobostralS:
    """The verified bundle's network in torch (eval mode), checked against ONNX Runtime on random inputs.

    A bundle of the previous format is read too: its weights are the same network's.
    """
    bundle = Path(bundle)
    card = verify_bundle(bundle, required=(POLICY_FILE,), previous_format=True).card
    graphs = _graph_files(card.format)
    if not set(graphs) <= set(card.files):  # every file the card lists was verified; an unlisted one was not
        raise BundleError(f"{bundle}: incomplete, the card lists no {INSTRUCTION_FILE}")
    model = make_policy(bundle_network_config(card))
    try:
        model.load_state_dict(bundle_state_dict(bundle, model, graphs))
    except RuntimeError as error:  # names or shapes the card's network does not have
        raise BundleWeightsError(f"{bundle}: its graphs are not the network its card describes ({error})") from None
    model.eval()
    error = _parity(model, [bundle / name for name in graphs])
    if not error <= PARITY_TOLERANCE:
        raise BundleWeightsError(
            f"{bundle}: the weights read back differ from its graphs by {error:.3g} (> {PARITY_TOLERANCE})"
        )
    return model


def _graph_files(card_format: str) -> tuple[str, ...]:
    """The graphs holding a bundle's weights: the policy graph, then this format's instruction head."""
    return (POLICY_FILE, INSTRUCTION_FILE) if card_format == FORMAT else (POLICY_FILE,)


def bundle_state_dict(
    bundle: Path, model: RobostralS, graphs: tuple[str, ...] = (POLICY_FILE, INSTRUCTION_FILE)
) -> dict[str, torch.Tensor]:
    """The state dict of ``model``'s network held in ``bundle``'s ``graphs`` (names they lack are left out).

    The folded constants (camera and GroupNorm affines) are read from the policy graph, the first.
    """
    loaded = [onnx.load(str(bundle / name)).graph for name in graphs]
    graph = loaded[0]
    constants = {item.name: numpy_helper.to_array(item) for each in loaded for item in each.initializer}
    tensors = {name: torch.from_numpy(constants[name].copy()) for name in model.state_dict() if name in constants}
    folded, config = _Folded(graph, constants), model.config
    towers = {"": ("image", "blocks")} | ({"wrist_": (WRIST_INPUT, "wrist_blocks")} if config.wrist_camera else {})
    for prefix, (camera, blocks) in towers.items():
        scale, shift = folded.camera_affine(camera)
        std = 1.0 / (255.0 * scale)
        tensors[f"{prefix}image_std"], tensors[f"{prefix}image_mean"] = std, -shift * std
        for index in range(len(config.channels)):
            weight, bias = folded.group_norm_affine(f"{blocks}.{index}.conv.weight")
            tensors[f"{blocks}.{index}.norm.weight"], tensors[f"{blocks}.{index}.norm.bias"] = weight, bias
    return tensors


class _Folded:
    """Constants the exporter folded, found by walking the graph downstream of a named value."""

    def __init__(self, graph: onnx.GraphProto, constants: dict[str, np.ndarray]) -> None:
        self.nodes = list(graph.node)
        self.constants = constants

    def camera_affine(self, camera: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(scale, shift) per channel applied to a uint8 camera input after its cast to float."""
        multiply = self._downstream(camera, "Mul")
        return self._constant(multiply), self._constant(self._downstream(multiply.output[0], "Add"))

    def group_norm_affine(self, conv_weight: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(weight, bias) of the GroupNorm after the convolution whose weight is ``conv_weight``."""
        conv = next((node for node in self.nodes if node.op_type == "Conv" and node.input[1] == conv_weight), None)
        if conv is None:
            raise BundleWeightsError(f"the policy graph has no convolution with weight {conv_weight}")
        normalized = self._downstream(conv.output[0], "InstanceNormalization")
        multiply = self._downstream(normalized.output[0], "Mul")
        return self._constant(multiply), self._constant(self._downstream(multiply.output[0], "Add"))

    def _downstream(self, value: str, op_type: str) -> onnx.NodeProto:
        """The nearest node of ``op_type`` fed, directly or not, by ``value`` (breadth first)."""
        queue, seen = deque([value]), {value}
        while queue:
            current = queue.popleft()
            for node in self.nodes:
                if current not in node.input:
                    continue
                if node.op_type == op_type:
                    return node
                for output in node.output:
                    if output not in seen:
                        seen.add(output)
                        queue.append(output)
        raise BundleWeightsError(f"the policy graph has no {op_type} downstream of {value!r}")

    def _constant(self, node: onnx.NodeProto) -> torch.Tensor:
        """The one constant input of ``node``, flattened to a vector."""
        found = [self.constants[name] for name in node.input if name in self.constants]
        if len(found) != 1:
            raise BundleWeightsError(f"the policy graph's {node.op_type} node {node.name!r} has no single constant")
        return torch.from_numpy(found[0].reshape(-1).copy())


def _parity(model: RobostralS, graphs: list[Path], batch: int = 4) -> float:
    """Largest |ONNX Runtime - torch| on random inputs spread like the network's training data.

    ``graphs``: the policy graph, then the instruction head whose conditions it takes (none in format 1).
    """
    c = model.config
    generator = torch.Generator().manual_seed(0)
    size = (batch, c.image_size, c.image_size, 3)
    inputs = {
        "image": torch.randint(0, 256, size, dtype=torch.uint8, generator=generator),
        "state": model.state_mean + model.state_std * torch.randn(batch, c.state_dim, generator=generator),
        "language": model.language_mean + model.language_std * torch.randn(batch, c.language_dim, generator=generator),
    }
    if c.wrist_camera:
        inputs[WRIST_INPUT] = torch.randint(0, 256, size, dtype=torch.uint8, generator=generator)
    with torch.no_grad():
        expected = model(*(inputs[name] for name in policy_inputs(c.wrist_camera))).numpy()
    arrays = {name: value.numpy() for name, value in inputs.items()}
    policy, *head = (policy_session(path, threads=1) for path in graphs)
    return max_abs_difference(policy, step_feeds(head[0], arrays) if head else arrays, expected)
