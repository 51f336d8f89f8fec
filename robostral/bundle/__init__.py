"""Policy bundles: the self-contained directory that deploys (ONNX graphs, tokenizer, card.yaml)."""
