"""Untrusted JSON in: parsed strictly, objects checked field by field, every refusal a BadRequest naming what.

Both the HTTP API and program documents take JSON from outside; this is the one place that decides
what a well-formed input is and how a bad one is described.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from robostral.pendant.errors import BadRequest


def show(value: object) -> str:
    """A value for an error message, cut short so a huge input makes a short message."""
    try:
        text = repr(value)
    except (ValueError, RecursionError):  # an int of over 4300 digits, a list nested too deeply
        return "a value too large to show"
    return text if len(text) <= 80 else text[:77] + "..."


def parse_json(text: str | bytes, what: str) -> object:
    """``text`` parsed as JSON (UTF-8; NaN and Infinity refused), or a BadRequest about ``what``."""
    try:
        return json.loads(text.decode() if isinstance(text, bytes) else text, parse_constant=_refuse_constant)
    except UnicodeDecodeError:
        raise BadRequest(f"{what} is not UTF-8 text") from None
    except RecursionError:
        raise BadRequest(f"{what} is not valid JSON: nested too deeply") from None
    except ValueError as error:
        raise BadRequest(f"{what} is not valid JSON: {error}") from None


def check_fields(value: object, what: str, required: Iterable[str] = (), optional: Iterable[str] = ()) -> dict:
    """``value`` if it is a JSON object with every ``required`` field and no field beyond ``optional``."""
    required, optional = set(required), set(optional)
    if not isinstance(value, dict):
        raise BadRequest(f"{what} must be a JSON object; got {show(value)}")
    missing = sorted(required - value.keys())
    unknown = sorted(value.keys() - required - optional)
    if missing:
        raise BadRequest(f"{what}: missing field(s) {', '.join(map(repr, missing))}")
    if unknown:
        raise BadRequest(f"{what}: unknown field(s) {', '.join(show(k) for k in unknown[:5])}")
    return value


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number JSON allows")
