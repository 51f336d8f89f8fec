"""Keep BENCHMARKS.md up to date: each benchmark owns one marked section and rewrites only that."""

from __future__ import annotations

import os
import platform
import re
import sys
from datetime import datetime, timezone
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[2] / "BENCHMARKS.md"  # at the root of the checkout
HEADER = (
    "# Benchmarks\n\nEvery figure below is written by the command shown with it; rerun it to refresh its section.\n"
)


def machine() -> str:
    """One line naming the machine and the time, printed under every section."""
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"{cpu_model()}, {os.cpu_count()} cores, Python {sys.version.split()[0]}, {when}"


def cpu_model() -> str:
    """The CPU's model name where Linux says it (shared machines differ: figures move with it), else its arch."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()} ({platform.machine()})"
    except OSError:
        pass
    return platform.processor() or platform.machine()


def update_section(name: str, command: str, body: str) -> None:
    """Replace (or append) the section ``name`` of BENCHMARKS.md with ``body``."""
    text = BENCHMARKS.read_text() if BENCHMARKS.exists() else HEADER
    begin, end = f"<!-- begin {name} -->", f"<!-- end {name} -->"
    section = f"{begin}\n`{command}` ({machine()})\n\n{body.strip()}\n{end}"
    pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end), re.S)
    text = pattern.sub(lambda _: section, text) if pattern.search(text) else text.rstrip() + "\n\n" + section + "\n"
    BENCHMARKS.write_text(text)


def publish(name: str, command: str, title: str, text: str, write: bool = True) -> None:
    """Print a benchmark's result and, when ``write``, make it the section ``name`` of BENCHMARKS.md under ``title``."""
    print(text)
    if write:
        update_section(name, command, f"### {title}\n\n{text}")


def verdict(met: bool) -> str:
    """How every benchmark states a goal's outcome."""
    return "met" if met else "NOT met"


def goal_lines(goals: list[tuple[str, bool]]) -> list[str]:
    """One markdown bullet per (goal, met) pair, the outcome in bold."""
    return [f"- {goal}: **{verdict(ok)}**" for goal, ok in goals]
