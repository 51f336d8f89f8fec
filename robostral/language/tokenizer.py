"""The MiniLM-L6 WordPiece tokenizer, set up the way sentence-transformers runs it.

No torch: the deployed runtime uses this module too.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

MAX_TOKENS = 256
"""Longest input in word pieces, [CLS] and [SEP] included (``max_seq_length`` of the model)."""


def load_tokenizer(path: str | Path) -> Tokenizer:
    """Load ``tokenizer.json``: lowercasing, truncation to ``MAX_TOKENS``, padding to the batch's longest."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"tokenizer file not found: {path}")
    try:
        tokenizer = Tokenizer.from_file(str(path))
    except Exception as error:  # tokenizers raises a bare Exception on malformed JSON
        raise ValueError(f"{path} is not a valid tokenizer.json: {error}") from error
    tokenizer.enable_truncation(MAX_TOKENS)
    tokenizer.enable_padding(pad_id=tokenizer.token_to_id("[PAD]"), pad_token="[PAD]")
    return tokenizer


def check_instructions(texts: Sequence[str]) -> list[str]:
    """``texts`` as a list, or a ValueError/TypeError naming the first bad instruction."""
    if isinstance(texts, str) or not isinstance(texts, Sequence):
        raise TypeError(f"instructions must be a list of strings, got {type(texts).__name__}")
    if not texts:
        raise ValueError("no instructions given")
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"instruction {i} must be a str, got {type(text).__name__}")
        if not text.strip():
            raise ValueError(f"instruction {i} is empty")
    return list(texts)


def tokenize(tokenizer: Tokenizer, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Token ids and attention mask of ``texts``, both int64 of shape (batch, longest in tokens)."""
    encodings = tokenizer.encode_batch(check_instructions(texts))
    ids = np.array([e.ids for e in encodings], dtype=np.int64)
    mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
    return ids, mask
