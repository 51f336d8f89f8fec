"""The report of a sweep: what it ran, how success varies with randomization, why episodes failed, what changed
between versions.

``write_report(out)`` reads a sweep's output folder (``robostral.sweep.store``)
and writes, next to its results::

    summary.json      every number of the report, for scripts and tests
    figures/*.png     success against each axis; a heat map over the first two axes per policy
    report.md         the report, figures linked from figures/
    report.html       the same report in one self-contained file (figures embedded)

in that order, one module each: ``aggregate`` turns the episode rows into the
summary (written first, so nothing optional after it can lose it), ``figures``
draws from it (a figure that fails is a warning, and the report says so),
``sections`` turns it into blocks (headings, text, tables, figures) and
``render`` writes those as Markdown and HTML. A sweep that has not finished
still gets a report that says so.
"""

from __future__ import annotations

import json
from pathlib import Path

from robostral.figures import draw_or_warn
from robostral.sweep.aggregate import summarize
from robostral.sweep.figures import draw_figures
from robostral.sweep.render import render_html, render_markdown
from robostral.sweep.sections import report_blocks
from robostral.sweep.store import read_plan, read_rows


def write_report(out: Path) -> Path:
    """Write summary.json, figures/, report.md and report.html into a sweep's output folder; the report.md path."""
    out = Path(out)
    summary = {**summarize(read_plan(out), read_rows(out)), "figures": None}
    _write_summary(summary, out)
    summary["figures"] = draw_or_warn(f"the figures of the sweep in {out}", lambda: draw_figures(summary, out))
    if summary["figures"] is not None:
        _write_summary(summary, out)  # now with the figures' paths
    blocks = report_blocks(summary)
    (out / "report.html").write_text(render_html(blocks, out, f"Sweep {summary['name']}"))
    path = out / "report.md"
    path.write_text(render_markdown(blocks))
    return path


def _write_summary(summary: dict, out: Path) -> None:
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
