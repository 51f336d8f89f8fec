"""Argument types shared by the subcommands: each turns bad text into argparse's clear usage error.

Defaults live in the config dataclasses (or the functions) a command hands its options to,
never again here: an option reads its default from there (``default=CollectConfig.seed``),
or, where that module is too heavy to import while the parser is built, defaults to None
and is passed on only when given (``given``), so the config's own default applies.
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

ROBOT_HELP = "an arm's name (robostral robots list) or the path of its description file (cell.yaml)"


def positive_int(text: str) -> int:
    """An integer > 0 (episode counts, workers, image sizes)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def field_default(config: type, name: str) -> Any:
    """The default of dataclass field ``name`` of ``config``; for a default_factory, the value it makes now."""
    field = {f.name: f for f in dataclasses.fields(config)}[name]
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return field.default


def given(args: argparse.Namespace, *names: str) -> dict[str, Any]:
    """The options among ``names`` given on the command line (not None), as keyword arguments."""
    return {name: getattr(args, name) for name in names if getattr(args, name) is not None}


def robot(text: str) -> str:
    """A shipped arm's name or a description file's path (``cell.yaml``), checked by loading it."""
    from robots import RobotError, load_robot

    try:
        load_robot(text)
    except RobotError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text
