"""torch module -> ONNX graph, the same bytes on every run.

The dynamo exporter is used at a fixed opset. Names are made unique after
export (it can give an intermediate value the output's name, pytorch/pytorch#158094),
and doc strings, metadata and the producer version (which carry source paths,
stack traces and versions) are stripped, so a file's sha256 depends only on the
weights and the pinned versions.
"""

from __future__ import annotations

import warnings

import onnx
import onnx_ir.passes.common
import torch

OPSET = 20


def export_onnx(
    module: torch.nn.Module,
    args: tuple[torch.Tensor, ...],
    input_names: list[str],
    output_names: list[str],
    dynamic_shapes: dict[str, dict[int, str]],
    producer: str,
) -> onnx.ModelProto:
    """Trace ``module`` on ``args`` and return the checked, stripped ONNX model."""
    with warnings.catch_warnings():  # inputs sharing a dynamic axis make the exporter warn once per input
        warnings.filterwarnings("ignore", message=".*shares the same shape constraints with another axis")
        program = torch.onnx.export(
            module,
            args,
            input_names=input_names,
            output_names=output_names,
            dynamic_shapes=dynamic_shapes,
            opset_version=OPSET,
            dynamo=True,
            external_data=False,
            verbose=False,
        )
    onnx_ir.passes.common.NameFixPass()(program.model)
    model = program.model_proto
    strip(model, producer)
    onnx.checker.check_model(model, full_check=True)
    return model


def strip(model: onnx.ModelProto, producer: str) -> None:
    """Remove what varies between runs or checkouts: doc strings, metadata, the producer's version."""
    model.producer_name = producer
    model.producer_version = ""
    model.doc_string = ""
    del model.metadata_props[:]
    graph = model.graph
    graph.doc_string = ""
    del graph.metadata_props[:]
    for group in (graph.node, graph.initializer, graph.input, graph.output, graph.value_info):
        for item in group:
            item.doc_string = ""
            del item.metadata_props[:]
