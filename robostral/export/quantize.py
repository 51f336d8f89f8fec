"""int8 variant of a policy graph: static QDQ quantization calibrated on dataset frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process


class _Frames(CalibrationDataReader):
    def __init__(self, inputs: dict[str, np.ndarray], batch: int = 8) -> None:
        n = len(next(iter(inputs.values())))
        self._batches = iter([{k: v[i : i + batch] for k, v in inputs.items()} for i in range(0, n, batch)])

    def get_next(self):
        return next(self._batches, None)


def quantize_policy(source: Path, target: Path, calibration: dict[str, np.ndarray]) -> Path:
    """Write an int8 (weights per channel, activations per tensor) copy of ``source`` to ``target``.

    The image input stays uint8 and the normalization stays float; convolutions and
    matrix multiplications run in int8.
    """
    prepared = target.with_suffix(".prep.onnx")
    quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
    try:
        quantize_static(
            str(prepared),
            str(target),
            _Frames(calibration),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            weight_type=QuantType.QInt8,
            activation_type=QuantType.QUInt8,
            op_types_to_quantize=["Conv", "MatMul", "Gemm"],
        )
    finally:
        prepared.unlink(missing_ok=True)
    return target
