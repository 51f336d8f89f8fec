"""Verify a bundle before anything runs or copies it: its signature where keys are trusted, then every sha256.

Trusted public keys come from the caller or, when the caller passes ``None``,
from ``ROBOSTRAL_TRUSTED_KEYS`` (PEM paths separated by ``os.pathsep``): a site
that sets it makes every runtime on it refuse unsigned bundles. Without trusted
keys only the hashes are checked.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from robostral.bundle.card import ENCODER_FILE, POLICY_FILE, TOKENIZER_FILE, BundleError, Card, read_card, verify_files

TRUSTED_KEYS_ENV = "ROBOSTRAL_TRUSTED_KEYS"
REQUIRED_FILES = (POLICY_FILE, ENCODER_FILE, TOKENIZER_FILE)  # what every runtime loads


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
) -> VerifiedBundle:
    """The verified card of ``bundle``; BundleError naming the first problem.

    Checks, in order: the signature (when there are trusted keys; ``None`` means
    the keys in ``ROBOSTRAL_TRUSTED_KEYS``), the sha256 of every file the card
    lists, and that the card lists every file in ``required``.
    """
    card = read_card(bundle)
    keys = trusted_keys_from_env() if trusted_keys is None else list(trusted_keys)
    if keys:
        from robostral.bundle.signing import load_public_keys, verify_signature  # cryptography, only when signing

        verify_signature(bundle, load_public_keys(keys))
    verify_files(bundle, card)
    unlisted = [name for name in required if name not in card.files]
    if unlisted:
        raise BundleError(f"{bundle}: incomplete, the card lists no {', '.join(unlisted)}")
    return VerifiedBundle(card, len(keys))
