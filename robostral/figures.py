"""Drawing the optional parts of a report (figures, videos) so that one that fails cannot lose the report."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class FigureWarning(UserWarning):
    """A figure or video of a report could not be made; the report's numbers were written all the same."""


def draw_or_warn(what: str, draw: Callable[[], T]) -> T | None:
    """``draw()``, or None with a FigureWarning naming ``what`` and the error when it raises.

    Run it after the report's numbers are written: drawing can fail for reasons that have nothing to do
    with them (a matplotlib refusal, a missing video encoder, a full disk), and a long run must not be lost
    to that.
    """
    try:
        return draw()
    except Exception as error:
        warnings.warn(f"{what} could not be made ({type(error).__name__}: {error}); the report's numbers are "
                      "written all the same", FigureWarning, stacklevel=2)
        return None
