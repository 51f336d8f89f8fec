"""Argument types shared by the subcommands: each turns bad text into argparse's clear usage error."""

from __future__ import annotations

import argparse


def positive_int(text: str) -> int:
    """An integer > 0 (episode counts, workers, image sizes)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value
