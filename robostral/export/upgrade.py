"""`robostral policies upgrade`: a format-1 bundle as this version's, its network unchanged.

A format-1 ``policy.onnx`` took the instruction's embedding at every step. The upgrade
reads its weights back into torch (``policy_from_bundle``, checked against that graph),
writes the instruction head and the per-step graph, and keeps the bundle only if the two,
one after the other, reproduce the old graph within the export's parity tolerance. The
card keeps everything measured of the network (training, evaluation, lineage: the same
function) and records the upgrade under ``export.upgrade``; the per-step latency is measured
again. An int8 variant or a signature of the old graph does not carry over: both are
dropped and the upgrade says so.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from robostral.bundle.card import (
    CARD_FILE,
    FORMAT,
    POLICY_FILE,
    POLICY_INT8_FILE,
    PREVIOUS_FORMAT,
    SIGNATURE_FILE,
    BundleError,
    read_card,
    sha256_file,
    write_card,
)
from robostral.bundle.model_card import MODEL_CARD_FILE, write_model_card
from robostral.export.bundle import instruction_head
from robostral.export.policy_graphs import write_bundle_graphs
from robostral.runtime.parity import PARITY_TOLERANCE, latency_ms, max_abs_difference
from robostral.runtime.session import LANGUAGE, WRIST_INPUT, policy_session, run_policy
from robostral.training.bundle_weights import policy_from_bundle

CHECK_FRAMES = 64  # random observations the new graphs are compared with the old one on


def upgrade_bundle(bundle: Path, out: Path, command: str) -> dict[str, Any]:
    """Write ``bundle`` (format 1) to ``out`` in this version's format; return the card's ``export.upgrade``.

    BundleError if it is not a format-1 bundle, or if the new graphs do not reproduce its policy graph.
    ``out`` may be ``bundle`` itself: it is replaced only once every check has passed.
    """
    bundle, out = Path(bundle), Path(out)
    card = read_card(bundle)
    if card.format != PREVIOUS_FORMAT:
        raise BundleError(f"{bundle}: format {card.format!r}; only {PREVIOUS_FORMAT!r} bundles need an upgrade")
    model = policy_from_bundle(bundle)  # verified, and checked against its own graph
    inputs = _observations(card)
    old = run_policy(policy_session(bundle / POLICY_FILE, threads=1), inputs)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        for name in card.files:
            if name not in (POLICY_FILE, POLICY_INT8_FILE, MODEL_CARD_FILE):
                shutil.copy2(bundle / name, staging / name)
        _, session, steps = write_bundle_graphs(model, inputs, staging)
        error = max_abs_difference(session, steps, old)
        if not error <= PARITY_TOLERANCE:
            raise BundleError(f"{bundle}: the split graphs differ from its policy graph by {error:.3g} "
                              f"(> {PARITY_TOLERANCE}); it was left as it was")
        upgrade = {
            "command": command,
            "from_format": PREVIOUS_FORMAT,
            "from_policy_sha256": card.files[POLICY_FILE],
            "max_abs_vs_previous_graph": error,
            "frames": len(old),
            "dropped": [name for name in (POLICY_INT8_FILE, SIGNATURE_FILE) if (bundle / name).exists()],
        }
        export = {key: value for key, value in card.export.items() if key != "int8"}
        export |= {"latency_batch1": latency_ms({"fp32_ms": session}, steps), "upgrade": upgrade}
        files = sorted(p.name for p in staging.iterdir() if p.is_file())
        new = dataclasses.replace(card, format=FORMAT, instruction_head=instruction_head(model), export=export,
                                  files={name: sha256_file(staging / name) for name in files if name != CARD_FILE})
        write_card(staging, new)
        write_model_card(staging)
        staging.chmod(0o755)
        shutil.rmtree(out, ignore_errors=True)
        os.replace(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return upgrade


def _observations(card, count: int = CHECK_FRAMES) -> dict[str, np.ndarray]:
    """Random raw observations shaped as ``card`` says, keyed as its bundle takes them; instructions from its
    encoder's range (unit-scale embeddings)."""
    rng = np.random.default_rng(0)
    inputs = {
        "image": rng.integers(0, 256, (count, *card.image_shape), dtype=np.uint8),
        "state": rng.normal(size=(count, card.state_dim)).astype(np.float32),
        LANGUAGE: rng.normal(scale=0.05, size=(count, card.language_dim)).astype(np.float32),
    }
    if card.wrist_camera:
        inputs[WRIST_INPUT] = rng.integers(0, 256, (count, *card.wrist_shape), dtype=np.uint8)
    return inputs
