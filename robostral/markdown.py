"""Markdown that reports share: tables, and success rates written with their 95% interval."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence


def table(header: Sequence[str], rows: Iterable[Sequence[str]], right: Collection[int] = ()) -> str:
    """A markdown table; the columns numbered in ``right`` are right-aligned, a ``|`` inside a cell is escaped."""
    rule = ["---:" if i in right else "---" for i in range(len(header))]
    lines = [header, rule, *([cell.replace("|", "\\|") for cell in row] for row in rows)]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)


def interval_text(summary: Mapping[str, float], decimals: int = 1) -> str:
    """``low to high`` of a success summary's 95% interval (``robostral.stats.success_summary``), in percent."""
    return f"{summary['ci_low']:.{decimals}%} to {summary['ci_high']:.{decimals}%}"


def rate_text(summary: Mapping[str, float], decimals: int = 1) -> str:
    """``rate (low to high)`` of a success summary, in percent."""
    return f"{summary['success_rate']:.{decimals}%} ({interval_text(summary, decimals)})"
