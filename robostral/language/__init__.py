"""The frozen MiniLM-L6 instruction encoder: torch model, ONNX export and a torch-free runtime.

Import the parts you need (``minilm`` and ``export`` need torch; ``runtime`` and
``tokenizer`` do not); this package itself imports nothing heavy.
"""

EMBEDDING_DIM = 384
"""Width of MiniLM-L6's token states, and of the sentence embedding mean pooling makes of them."""

POOLINGS = {"mean": EMBEDDING_DIM, "mean+order": 2 * EMBEDDING_DIM}
"""How token states become the instruction's embedding, and the embedding's length.

``mean``: sentence-transformers' L2-normalized mean, which carries word order only
weakly ("the red cube on the blue one" and "the blue cube on the red one" land
close). ``mean+order``: that mean, then an order vector: the L2-normalized mean
weighted toward the first tokens minus the one weighted toward the last, so which
object is named first (the one to move) can be read off linearly.
"""


def embedding_dim(pooling: str) -> int:
    """Length of the instruction embedding ``pooling`` makes; ValueError for an unknown pooling."""
    if pooling not in POOLINGS:
        raise ValueError(f"unknown instruction pooling {pooling!r}; expected one of {tuple(POOLINGS)}")
    return POOLINGS[pooling]
