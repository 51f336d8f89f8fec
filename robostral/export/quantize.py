"""int8 variant of a policy graph, and the gate it must pass before a card vouches for it.

Only the convolutions in the middle of each camera tower run in int8 (static QOperator quantization,
weights per channel, calibrated on dataset frames). Measured on a 2-core AMD EPYC (AVX2, no VNNI) with
the shipped bundle's graph (max abs against fp32 on 434 frames of 12 fresh episodes, calibrated on the
others; batch 1, one thread, interleaved), this was the most faithful recipe that was faster than fp32
at all: every convolution, FiLM layer and head layer in int8 (QDQ, the recipe before) gave 0.35 rad and
ran about 0.7-0.8x the fp32 speed; the same in QOperator format 0.35 rad, 0.94x; percentile calibration
0.38 rad; dynamic int8 linear layers only 0.20 rad, 1.1-1.2x; this recipe 0.027 rad, 1.1-1.2x (with
7-bit weights 0.044 rad). The ones left in fp32: the convolutions that read a camera image
(3 input channels: the uint8 pixels gain nothing from int8 and lose most) and the 1x1 keypoint
projections, whose error the spatial softmax turns into shifted keypoints.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process

from robostral.bundle.card import POLICY_INT8_FILE

# Joint units (rad; metres for a gripper), max abs against the fp32 graph on dataset frames it was not
# calibrated on. 0.01 rad on one Panda joint moves the tool at most 8.5 mm at its full 0.855 m reach:
# under the stack task's 12 mm height tolerance and half the reach task's 25 mm; the shipped recipe's
# best, 0.027 rad, is up to 23 mm, a reach target missed on error alone. A gripper target (0 to 0.04 m)
# is commanded open or closed, so 0.01 m never turns one into the other.
INT8_MAX_ABS = 0.01
# fp32 p50 / int8 p50, batch 1, the two timed interleaved: below 1.1x a variant's gain is within what
# one export's 200 calls measure on a busy 2-core box (the same two graphs: 1.35x in one run, 1.09x in
# the next), and under 0.5 ms of a 50 ms control period is not worth a second graph to trust.
INT8_MIN_SPEEDUP = 1.1


@dataclass(frozen=True)
class Int8Gate:
    """What an int8 variant must show at export for its card to vouch for it (``export.int8``)."""

    max_abs: float = INT8_MAX_ABS  # joint units, against the fp32 graph
    min_speedup: float = INT8_MIN_SPEEDUP  # fp32 p50 / int8 p50

    def __post_init__(self) -> None:
        if not (math.isfinite(self.max_abs) and self.max_abs > 0):
            raise ValueError(f"the int8 max abs bound must be a positive number of joint units, got {self.max_abs}")
        if not (math.isfinite(self.min_speedup) and self.min_speedup >= 0):
            raise ValueError(f"the int8 minimum speed-up must be a number >= 0, got {self.min_speedup}")

    def failures(self, max_abs: float, speedup: float) -> list[str]:
        """Why a variant measured at ``max_abs`` and ``speedup`` is refused; empty when it passes."""
        reasons = []
        if not max_abs <= self.max_abs:  # NaN fails too
            reasons.append(f"it differs from the fp32 model by up to {max_abs:.3g} (bound {self.max_abs:g})")
        if not speedup >= self.min_speedup:
            reasons.append(f"it runs {speedup:.2f}x the fp32 speed at batch 1 (at least {self.min_speedup:g}x needed)")
        return reasons

    def vouch(self, max_abs: float, speedup: float, frames: int) -> dict[str, Any]:
        """The card's ``export.int8`` block for a variant that passed: its numbers beside the bounds it met."""
        return {"file": POLICY_INT8_FILE, "vouched": True, "max_abs": max_abs, "bound": self.max_abs,
                "speedup": speedup, "min_speedup": self.min_speedup, "frames": frames}


class _Frames(CalibrationDataReader):
    def __init__(self, inputs: dict[str, np.ndarray], batch: int = 8) -> None:
        n = len(next(iter(inputs.values())))
        self._batches = iter([{k: v[i : i + batch] for k, v in inputs.items()} for i in range(0, n, batch)])

    def get_next(self):
        return next(self._batches, None)


def kept_in_fp32(graph: onnx.ModelProto) -> list[str]:
    """The Conv nodes left in fp32: those reading a camera image (3 input channels) and the 1x1 projections."""
    shapes = {tensor.name: tuple(tensor.dims) for tensor in graph.graph.initializer}
    kept = []
    for node in graph.graph.node:
        weight = shapes.get(node.input[1]) if node.op_type == "Conv" else None
        if weight is not None and (weight[1] == 3 or weight[2:] == (1, 1)):
            kept.append(node.name)
    return kept


def quantize_policy(source: Path, target: Path, calibration: dict[str, np.ndarray]) -> Path:
    """Write the int8 variant of ``source`` to ``target``: the towers' inner convolutions in int8, the rest fp32."""
    prepared = target.with_suffix(".prep.onnx")
    quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
    try:
        quantize_static(
            str(prepared),
            str(target),
            _Frames(calibration),
            quant_format=QuantFormat.QOperator,
            per_channel=True,
            weight_type=QuantType.QInt8,
            activation_type=QuantType.QUInt8,
            op_types_to_quantize=["Conv"],
            nodes_to_exclude=kept_in_fp32(onnx.load(str(prepared))),
        )
    finally:
        prepared.unlink(missing_ok=True)
    return target
