"""The frozen MiniLM-L6 instruction encoder: torch model, ONNX export and a torch-free runtime.

Import the parts you need (``minilm`` and ``export`` need torch; ``runtime`` and
``tokenizer`` do not); this package itself imports nothing heavy.
"""

EMBEDDING_DIM = 384
"""Length of one instruction embedding (float32, L2-normalized)."""
