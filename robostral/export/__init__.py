"""Export of trained policies to self-contained ONNX bundles: `robostral export`."""
