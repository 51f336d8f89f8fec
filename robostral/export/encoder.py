"""Export the frozen MiniLM-L6 encoder: ``encoder.onnx`` and ``tokenizer.json``, the same bytes on every run.

The sha256 of these files goes into a bundle's card, so the export must not vary
(see ``robostral.export.onnx_graph``).

Run ``python -m robostral.export.encoder OUT_DIR``: for a bundle directory, the pooling
its card names (``encoder.pooling``; ``mean`` in cards that predate it).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
import torch

from robostral.bundle.card import CARD_FILE, ENCODER_FILE, TOKENIZER_FILE, read_card, sha256_file
from robostral.export import encoder_cache, onnx_graph
from robostral.export.onnx_graph import export_onnx
from robostral.language import POOLINGS, minilm, tokenizer
from robostral.language.minilm import PACKAGE_DIR, MiniLMEncoder
from robostral.language.runtime import INPUT_NAMES, OUTPUT_NAME, InstructionEncoder
from robostral.language.tokenizer import tokenize

ENCODER_PRODUCER = "robostral"
"""The graph's ``producer_name``: a fixed name, not a module path, so that moving this code
leaves the encoder's bytes (and the sha256 in every shipped card) as they are."""

# The code an exported encoder's bytes depend on, besides its weights and pooling (the cache's key).
CODE = (minilm, onnx_graph, tokenizer, sys.modules[__name__])

PARITY_TOLERANCE = 1e-5
"""Largest allowed |ONNX Runtime - torch| over the embeddings of ``PARITY_INSTRUCTIONS``."""

PARITY_INSTRUCTIONS = (
    "pick up the red cube",
    "Put the blue block on the green plate.",
    "stack",
    "push the small yellow cylinder to the left edge of the table, slowly and without knocking anything over",
    "Öffne den Greifer!",
    "reach the target " * 100,  # past MAX_TOKENS: truncated
)


def export_encoder(out_dir: str | Path, pooling: str = "mean", cache: bool = True) -> dict[str, str]:
    """Write ``encoder.onnx`` (pooled as ``pooling`` says) and ``tokenizer.json`` into ``out_dir``.

    Returns file name -> sha256.

    The files are checked (ONNX Runtime against torch on ``PARITY_INSTRUCTIONS``)
    before they replace any old ones; a RuntimeError leaves ``out_dir`` as it was.
    With ``cache`` the bytes an earlier export made from the same inputs are used
    (``robostral.export.encoder_cache``), and a new export is kept for the next.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    names = (ENCODER_FILE, TOKENIZER_FILE)
    key = encoder_cache.cache_key(pooling, PACKAGE_DIR, CODE) if cache else ""
    with tempfile.TemporaryDirectory(dir=out_dir) as staging:
        staging = Path(staging)
        if not (cache and encoder_cache.fetch(key, staging, names)):
            encoder = MiniLMEncoder.from_package(pooling)
            (staging / ENCODER_FILE).write_bytes(to_onnx(encoder).SerializeToString())
            (staging / TOKENIZER_FILE).write_bytes(encoder.tokenizer.to_str().encode("utf-8"))
            check_parity(encoder, staging)
            if cache:
                encoder_cache.store(key, staging, names)
        for name in names:
            os.replace(staging / name, out_dir / name)
    return {name: sha256_file(out_dir / name) for name in names}


def to_onnx(encoder: MiniLMEncoder) -> onnx.ModelProto:
    """The encoder as an ONNX graph: int64 ``input_ids``, ``attention_mask`` (batch, tokens) -> ``embedding``."""
    ids, mask = (torch.from_numpy(a) for a in tokenize(encoder.tokenizer, PARITY_INSTRUCTIONS[:2]))
    axes = {0: "batch", 1: "tokens"}
    return export_onnx(
        encoder,
        (ids, mask),
        list(INPUT_NAMES),
        [OUTPUT_NAME],
        {name: axes for name in INPUT_NAMES},
        ENCODER_PRODUCER,
    )


def check_parity(encoder: MiniLMEncoder, directory: Path) -> float:
    """Max |ONNX Runtime - torch| over ``PARITY_INSTRUCTIONS``, one by one and as a batch; RuntimeError if too big."""
    runtime = InstructionEncoder(directory)
    expected = encoder.encode(PARITY_INSTRUCTIONS).numpy()
    singles = np.concatenate([runtime.run([text]) for text in PARITY_INSTRUCTIONS])
    error = max(float(np.abs(got - expected).max()) for got in (singles, runtime.run(PARITY_INSTRUCTIONS)))
    if not error <= PARITY_TOLERANCE:
        raise RuntimeError(f"ONNX encoder differs from torch by {error:.3g} (max abs), more than {PARITY_TOLERANCE}")
    return error


def card_pooling(directory: Path) -> str:
    """The pooling the card in ``directory`` names for its encoder: ``mean`` where it names none, or has no card."""
    return read_card(directory).encoder_pooling if (directory / CARD_FILE).is_file() else "mean"


def main(argv: list[str] | None = None) -> None:
    """Export into the directory on the command line and print each file's sha256."""
    parser = argparse.ArgumentParser(prog="python -m robostral.export.encoder", description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path, help="directory for encoder.onnx and tokenizer.json")
    parser.add_argument("--pooling", choices=tuple(POOLINGS),
                        help="how token states become the embedding (default: the card's in OUT_DIR, else mean)")
    parser.add_argument("--no-cache", action="store_true",
                        help="export afresh, not the bytes an earlier export from the same inputs kept")
    args = parser.parse_args(argv)
    pooling = args.pooling or card_pooling(args.out_dir)
    if pooling not in POOLINGS:
        parser.error(f"unknown instruction pooling {pooling!r} in {args.out_dir / CARD_FILE}; "
                     f"expected one of {tuple(POOLINGS)}")
    for name, digest in export_encoder(args.out_dir, pooling, cache=not args.no_cache).items():
        print(f"{digest}  {args.out_dir / name}")


if __name__ == "__main__":
    main()
