"""Typed configuration: dataclasses that load from YAML, every value checked against its field's type.

One loader for every config (sim, safety, training, policies). A value must fit its
field's type hint; the only coercion is a string that reads as a number for a number
field (YAML 1.1 reads ``1e-4`` as a string, which is not what the user meant).
"""

from __future__ import annotations

import dataclasses
import numbers
import os
import types
import typing
from typing import Any, TypeVar

import numpy as np
import yaml

T = TypeVar("T")


class ConfigError(ValueError):
    """A key a config dataclass does not have, or a value that does not fit its field's type."""


class _Mismatch(Exception):
    """A value does not fit a type hint (named, with the value, by the field that catches it)."""


def from_dict(cls: type[T], values: dict[str, Any] | None, source: str | os.PathLike = "") -> T:
    """Build dataclass ``cls`` from ``values``; unknown keys and ill-typed values are errors, missing keys
    take defaults.

    A field whose type is itself a dataclass may be given as a mapping; it is built the same
    way, and an error inside it is named with its path (``EnvConfig.randomization: ...``).
    ``source`` (the file the values came from) prefixes a ``ConfigError``.
    """
    try:
        return _build(cls, values)
    except ConfigError as error:
        if not source:
            raise
        raise ConfigError(f"{source}: {error}") from None


def from_yaml(cls: type[T], path: str | os.PathLike) -> T:
    """Load dataclass ``cls`` from a YAML mapping in ``path``."""
    return from_dict(cls, yaml_mapping(path, cls.__name__), source=path)


def yaml_mapping(path: str | os.PathLike, what: str) -> dict[str, Any]:
    """The mapping of ``what`` keys a YAML file holds ({} for an empty file), before any check of the keys."""
    with open(path) as handle:
        values = yaml.safe_load(handle)
    if values is not None and not isinstance(values, dict):
        raise ValueError(f"{path}: expected a mapping of {what} keys, got {type(values).__name__}")
    return values or {}


def _build(cls: type[T], values: dict[str, Any] | None) -> T:
    values = dict(values or {})
    known = sorted(f.name for f in dataclasses.fields(cls) if f.init)
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(f"{cls.__name__}: unknown key(s) {', '.join(unknown)}; known keys: {', '.join(known)}")
    hints = typing.get_type_hints(cls)
    for name, value in values.items():
        try:
            values[name] = _checked(value, hints[name])
        except _Mismatch:
            raise ConfigError(
                f"{cls.__name__}.{name} must be {_describe(hints[name])}, got {value!r} ({type(value).__name__})"
            ) from None
        except ValueError as error:  # a nested dataclass refused its values
            kind = ConfigError if isinstance(error, ConfigError) else ValueError
            raise kind(f"{cls.__name__}.{name}: {error}") from None
    return cls(**values)


def _checked(value: Any, hint: Any) -> Any:
    """``value`` if it fits ``hint``; a numeric string for a number; _Mismatch otherwise."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        for option in args:
            try:
                return _checked(value, option)
            except _Mismatch:
                continue
        raise _Mismatch
    if origin is typing.Literal:
        if value in args:
            return value
        raise _Mismatch
    if dataclasses.is_dataclass(hint):
        if isinstance(value, hint):
            return value
        if isinstance(value, dict):
            return _build(hint, value)
        raise _Mismatch
    if hint is bool:
        if isinstance(value, (bool, np.bool_)):
            return value
        raise _Mismatch
    if hint in (int, float):
        return _number(value, hint)
    if origin in (list, tuple):
        return _sequence(value, origin, args)
    if origin is dict:
        if not isinstance(value, dict):
            raise _Mismatch
        key, item = args or (Any, Any)
        return {_checked(k, key): _checked(v, item) for k, v in value.items()}
    if isinstance(hint, type) and not args and not isinstance(value, hint):
        raise _Mismatch
    return value


def _number(value: Any, hint: type) -> Any:
    """An int (numbers.Integral) or a float (numbers.Real); a string that reads as one becomes one."""
    kind = numbers.Integral if hint is int else numbers.Real
    if isinstance(value, kind) and not isinstance(value, (bool, np.bool_)):
        return value
    if isinstance(value, str):
        try:
            return hint(value)
        except ValueError:
            pass
    raise _Mismatch


def _sequence(value: Any, origin: type, args: tuple) -> Any:
    """A list or tuple (YAML gives lists) whose items fit ``args``; kept as the kind of sequence given."""
    if not isinstance(value, (list, tuple)):
        raise _Mismatch
    if origin is tuple and args and args[-1] is not Ellipsis:
        if len(value) != len(args):
            raise _Mismatch
        items = args
    else:
        items = (args[0] if args else Any,) * len(value)
    return type(value)(_checked(item, hint) for item, hint in zip(value, items))


def _describe(hint: Any) -> str:
    """A type hint as written in the dataclass (``float``, ``tuple[int, ...]``, ``int | None``)."""
    return hint.__name__ if isinstance(hint, type) and not typing.get_args(hint) else str(hint).replace("typing.", "")
