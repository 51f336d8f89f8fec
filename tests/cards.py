"""Valid bundle cards for tests that need one without exporting a bundle: the shipped card, keys overridden."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from robostral.bundle.card import Card, read_card

SHIPPED = Path(__file__).resolve().parent.parent / "policies" / "robostral-s-panda"


def make_card(**overrides: Any) -> Card:
    """The shipped policy's card with ``overrides`` as its top-level keys, checked as ``read_card`` checks a file."""
    return Card.from_dict({**read_card(SHIPPED).as_dict(), **overrides}, source="a test card")
