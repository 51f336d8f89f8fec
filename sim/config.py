"""Typed configuration: dataclasses that load from YAML and name the bad key or value."""

from __future__ import annotations

import dataclasses
import os
import typing
from typing import Any, TypeVar

import yaml

T = TypeVar("T")


def from_dict(cls: type[T], values: dict[str, Any] | None) -> T:
    """Build dataclass ``cls`` from ``values``; unknown keys are an error, missing keys take defaults.

    A field whose type is itself a dataclass may be given as a mapping; it is built the same
    way, and an unknown key inside it is named with its path (``randomization.levle``).
    """
    values = dict(values or {})
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown key(s) {', '.join(unknown)}; known keys: {', '.join(sorted(known))}")
    hints = typing.get_type_hints(cls)
    for name, value in values.items():
        field_type = hints.get(name)
        if isinstance(value, dict) and dataclasses.is_dataclass(field_type):
            try:
                values[name] = from_dict(field_type, value)
            except ValueError as error:
                raise ValueError(f"{cls.__name__}.{name}: {error}") from None
    return cls(**values)


def from_yaml(cls: type[T], path: str | os.PathLike) -> T:
    """Load dataclass ``cls`` from a YAML mapping in ``path``."""
    return from_dict(cls, yaml_mapping(path, cls.__name__))


def yaml_mapping(path: str | os.PathLike, what: str) -> dict[str, Any]:
    """The mapping of ``what`` keys a YAML file holds ({} for an empty file), before any check of the keys."""
    with open(path) as handle:
        values = yaml.safe_load(handle)
    if values is not None and not isinstance(values, dict):
        raise ValueError(f"{path}: expected a mapping of {what} keys, got {type(values).__name__}")
    return values or {}
