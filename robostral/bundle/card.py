"""``card.yaml``: what a bundle is, how it was made, how it scored, and the sha256 of every file.

The card is the bundle's contract with every runtime: input and output names and
shapes, the robot's joints and limits, the control rate and chunk size. A
runtime recomputes each listed file's sha256 and refuses the bundle on any
mismatch; a signature (``card.sig``) over the card's bytes covers the files too.
This module imports neither torch nor onnx: deployments read cards.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import yaml

CARD_FILE = "card.yaml"
SIGNATURE_FILE = "card.sig"
POLICY_FILE = "policy.onnx"
POLICY_INT8_FILE = "policy_int8.onnx"
FORMAT = "robostral-policy-bundle/1"


class BundleError(ValueError):
    """A bundle that must not run: missing, tampered, incomplete or inconsistent."""


def sha256_file(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_card(bundle: str | os.PathLike) -> dict[str, Any]:
    """The parsed card of a bundle directory; BundleError if it is missing or not a card."""
    path = Path(bundle) / CARD_FILE
    if not path.is_file():
        raise BundleError(f"{bundle}: no {CARD_FILE}; not a policy bundle")
    try:
        card = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise BundleError(f"{path}: not valid YAML ({error})") from None
    found = card.get("format") if isinstance(card, dict) else card
    if found != FORMAT:
        raise BundleError(f"{path}: expected format {FORMAT!r}, got {found!r}")
    return card


def write_card(bundle: str | os.PathLike, card: dict[str, Any]) -> Path:
    """Write ``card.yaml`` atomically (a half-written card would refuse to load, never half-load)."""
    path = Path(bundle) / CARD_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(yaml.safe_dump(card, sort_keys=False, width=120))
    os.replace(tmp, path)
    return path


def verify_files(bundle: str | os.PathLike, card: dict[str, Any]) -> None:
    """Recompute the sha256 of every file the card lists; BundleError naming the first problem."""
    files = card.get("files")
    if not isinstance(files, dict) or not files:
        raise BundleError(f"{bundle}: the card lists no files and hashes")
    for name, expected in files.items():
        if not isinstance(name, str) or Path(name).name != name or name in (".", "..", CARD_FILE, SIGNATURE_FILE):
            raise BundleError(f"{bundle}: the card lists {name!r}, not a file name inside the bundle")
        path = Path(bundle) / name
        if not path.is_file():
            raise BundleError(f"{bundle}: {name} is missing (listed in the card)")
        actual = sha256_file(path)
        if actual != expected:
            raise BundleError(
                f"{bundle}: {name} has sha256 {actual[:16]}..., the card says {str(expected)[:16]}...: "
                "tampered or corrupt"
            )
