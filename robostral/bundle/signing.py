"""Ed25519 signatures over a bundle's card: a site's own keys decide which policies may run.

The card lists the sha256 of every file, so a valid signature over ``card.yaml``
vouches for the whole bundle. Keys are raw 32-byte Ed25519 keys stored as
PEM files (private: PKCS8, public: SubjectPublicKeyInfo).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from robostral.bundle.card import CARD_FILE, SIGNATURE_FILE, BundleError


def generate_keypair(private_path: str | os.PathLike, public_path: str | os.PathLike) -> None:
    """Write a new key pair; the private key file is readable by its owner only."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    for path in (private_path, public_path):
        if Path(path).exists():
            raise FileExistsError(f"{path} exists; refusing to overwrite a key")
    descriptor = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(private)
    Path(public_path).write_bytes(public)


def sign_bundle(bundle: str | os.PathLike, private_key: str | os.PathLike) -> Path:
    """Write ``card.sig``: the Ed25519 signature of ``card.yaml``'s bytes."""
    key = serialization.load_pem_private_key(Path(private_key).read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{private_key}: not an Ed25519 private key")
    signature = key.sign((Path(bundle) / CARD_FILE).read_bytes())
    path = Path(bundle) / SIGNATURE_FILE
    path.write_bytes(signature)
    return path


def load_public_keys(paths: Sequence[str | os.PathLike]) -> list[Ed25519PublicKey]:
    keys = []
    for path in paths:
        key = serialization.load_pem_public_key(Path(path).read_bytes())
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError(f"{path}: not an Ed25519 public key")
        keys.append(key)
    return keys


def verify_signature(bundle: str | os.PathLike, trusted: Sequence[Ed25519PublicKey]) -> None:
    """BundleError unless ``card.sig`` is a valid signature of ``card.yaml`` by one of ``trusted``."""
    path = Path(bundle) / SIGNATURE_FILE
    if not path.is_file():
        raise BundleError(f"{bundle}: unsigned (no {SIGNATURE_FILE}) and trusted keys are configured")
    card, signature = (Path(bundle) / CARD_FILE).read_bytes(), path.read_bytes()
    for key in trusted:
        try:
            key.verify(signature, card)
            return
        except InvalidSignature:
            continue
    raise BundleError(f"{bundle}: the signature does not match any trusted key (card changed or signed elsewhere)")
