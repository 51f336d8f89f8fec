"""Verify a bundle before anything runs or copies it: its signature where keys are trusted, then every sha256.

Trusted public keys come from the caller or, when the caller passes ``None``,
from ``ROBOSTRAL_TRUSTED_KEYS`` (PEM paths separated by ``os.pathsep``): a site
that sets it makes every runtime on it refuse unsigned bundles. Without trusted
keys only the hashes are checked. An int8 variant runs only where the card vouches for it
(``check_int8``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from robostral.bundle.card import (
    ENCODER_FILE,
    FORMAT,
    INSTRUCTION_FILE,
    POLICY_FILE,
    POLICY_INT8_FILE,
    TOKENIZER_FILE,
    BundleError,
    Card,
    read_card,
    verify_files,
)

TRUSTED_KEYS_ENV = "ROBOSTRAL_TRUSTED_KEYS"
REQUIRED_FILES = (POLICY_FILE, INSTRUCTION_FILE, ENCODER_FILE, TOKENIZER_FILE)  # what every runtime loads


@dataclass(frozen=True)
class VerifiedBundle:
    card: Card
    trusted_keys: int  # how many trusted keys the signature was checked against; 0 = hashes only


def trusted_keys_from_env() -> list[str]:
    """The public key paths listed in ``ROBOSTRAL_TRUSTED_KEYS`` (empty when it is unset)."""
    return [path for path in os.environ.get(TRUSTED_KEYS_ENV, "").split(os.pathsep) if path]


def verify_bundle(
    bundle: str | os.PathLike,
    trusted_keys: Sequence[str | os.PathLike] | None = None,
    required: Sequence[str] = REQUIRED_FILES,
    previous_format: bool = False,
) -> VerifiedBundle:
    """The verified card of ``bundle``; BundleError naming the first problem.

    Checks, in order: the card's format (this version's, or also the previous one where
    ``previous_format``: to read its weights, never to run it), the signature (when there are
    trusted keys; ``None`` means the keys in ``ROBOSTRAL_TRUSTED_KEYS``), the sha256 of every
    file the card lists, and that the card lists every file in ``required``.
    """
    card = read_card(bundle)
    if card.format != FORMAT and not previous_format:
        raise BundleError(
            f"{bundle}: a bundle of format {card.format!r}, whose policy graph takes the instruction's embedding "
            f"at every step; this version runs {FORMAT!r}. `robostral policies upgrade {bundle}` splits out its "
            "instruction head, or export it again"
        )
    keys = trusted_keys_from_env() if trusted_keys is None else list(trusted_keys)
    if keys:
        from robostral.bundle.signing import load_public_keys, verify_signature  # cryptography, only when signing

        verify_signature(bundle, load_public_keys(keys))
    verify_files(bundle, card)
    unlisted = [name for name in required if name not in card.files]
    if unlisted:
        raise BundleError(f"{bundle}: incomplete, the card lists no {', '.join(unlisted)}")
    return VerifiedBundle(card, len(keys))


def check_int8(bundle: str | os.PathLike, card: Card) -> None:
    """BundleError unless ``card`` (verified) vouches for its int8 variant: ``robostral export --int8`` measured it
    within its bound of fp32 and faster than fp32 (``robostral.export.quantize.Int8Gate``) and listed its hash."""
    vouched = card.int8 or {}
    if vouched.get("vouched") is not True or POLICY_INT8_FILE not in card.files:
        raise BundleError(
            f"{bundle}: its card vouches for no int8 variant (export.int8), so none runs: run policy.onnx "
            "(without --int8), or export with --int8, which measures one and keeps it only within its bounds"
        )
    if not (vouched["max_abs"] <= vouched["bound"] and vouched["speedup"] >= vouched["min_speedup"]):
        raise BundleError(
            f"{bundle}: its card vouches for an int8 variant that its own numbers refuse: max abs "
            f"{vouched['max_abs']:.3g} (bound {vouched['bound']:g}), {vouched['speedup']:.2f}x fp32 "
            f"(at least {vouched['min_speedup']:g}x)"
        )
