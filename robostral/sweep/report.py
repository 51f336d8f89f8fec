"""The report of a sweep: what it ran, how success varies with randomization, why episodes failed, what changed
between versions.

``write_report(out)`` reads a sweep's output folder (``robostral.sweep.store``)
and writes, next to its results::

    summary.json      every number of the report, for scripts and tests
    report.md         the report, figures linked from figures/
    report.html       the same report in one self-contained file (figures embedded)
    figures/*.png     success against each axis; a heat map over the first two axes per policy

It works in four steps, one group of functions each: aggregate the episode rows
into ``summary`` (plain JSON data), draw the figures from it, turn it into a list
of blocks (headings, text, tables, figures), and render those blocks as markdown
and as HTML. A sweep that has not finished still gets a report that says so.

Every success rate comes with its 95% Wilson interval. Versions of a policy for
the same robot are compared on paired episodes (same robot, task, randomization
point, seed and episode seed) with the exact McNemar test.
"""

from __future__ import annotations

import base64
import html
import json
import re
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from robostral.bundle.gate import judge  # noqa: E402
from robostral.evaluation.outcome import count_failures, describe_failures  # noqa: E402
from robostral.stats import SIGNIFICANCE, Paired, success_summary, wilson_interval  # noqa: E402
from robostral.sweep.store import AXIS_PREFIX, read_plan, read_rows  # noqa: E402

REPORT_FORMAT = "robostral-sweep-report/1"
EXACT_LEVELS = 6  # an axis with at most this many distinct values gets one level per value ...
QUANTILE_BINS = 5  # ... one with more (sampled values) is cut into this many quantile bins
WORST_CELLS = 10
MISSING_LISTED = 20  # missing cells listed in the report (summary.json lists all)


def write_report(out: Path) -> Path:
    """Write summary.json, report.md, report.html and figures/ into a sweep's output folder; the report.md path."""
    out = Path(out)
    summary = summarize(read_plan(out), read_rows(out))
    summary["figures"] = draw_figures(summary, out)
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    blocks = report_blocks(summary)
    (out / "report.html").write_text(render_html(blocks, out, f"Sweep {summary['name']}"))
    path = out / "report.md"
    path.write_text(render_markdown(blocks))
    return path


# --- aggregation ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rate:
    """Successes out of n episodes, with the 95% Wilson interval."""

    successes: int
    n: int

    @property
    def rate(self) -> float | None:
        return self.successes / self.n if self.n else None

    @property
    def ci(self) -> tuple[float, float]:
        return wilson_interval(self.successes, self.n)

    def as_dict(self) -> dict[str, Any]:
        return success_summary(self.successes, self.n)

    @classmethod
    def of(cls, rows: Iterable[dict]) -> Rate:
        outcomes = [bool(row["success"]) for row in rows]
        return cls(sum(outcomes), len(outcomes))


@dataclass(frozen=True)
class Levels:
    """How one axis's values are grouped for plotting: one level per value, or quantile bins for many values.

    Level i covers ``lows[i] <= value < lows[i + 1]`` (the first and last are open-ended),
    so a value is placed by bisection either way; exact levels have ``lows == highs``.
    """

    axis: str
    lows: tuple[float, ...]
    highs: tuple[float, ...]
    binned: bool

    @classmethod
    def of(cls, axis: str, values: Iterable[float]) -> Levels:
        distinct = sorted(set(values))
        if len(distinct) <= EXACT_LEVELS:
            return cls(axis, tuple(distinct), tuple(distinct), False)
        edges = np.unique(np.quantile(distinct, np.linspace(0.0, 1.0, QUANTILE_BINS + 1))).tolist()
        return cls(axis, tuple(edges[:-1]), tuple(edges[1:]), True)

    def index(self, value: float | None) -> int | None:
        if value is None or value != value or not self.lows:  # missing or NaN
            return None
        return min(max(bisect_right(self.lows, value) - 1, 0), len(self.lows) - 1)

    def as_dicts(self) -> list[dict[str, Any]]:
        last = len(self.lows) - 1
        return [{"label": self._label(low, high, closed=i == last), "low": low, "high": high, "x": (low + high) / 2}
                for i, (low, high) in enumerate(zip(self.lows, self.highs))]

    def _label(self, low: float, high: float, closed: bool) -> str:
        return f"[{low:.3g}, {high:.3g}" + ("]" if closed else ")") if self.binned else f"{low:.3g}"


def summarize(plan: dict, rows: list[dict]) -> dict[str, Any]:
    """Every number of the report, from the plan and the episode rows (JSON-ready)."""
    by_cell = _group(rows, lambda row: row["cell"])
    cells = plan["cells"]
    missing = [cell for cell in cells if cell["key"] not in by_cell]
    policies = plan["policies"]
    by_policy = _group(rows, lambda row: row["policy"])
    tasks = {p["label"]: {t: Rate.of(r) for t, r in _group(by_policy.get(p["label"], []), _task).items()}
             for p in policies}
    return {
        "format": REPORT_FORMAT,
        "name": plan["name"],
        "sweep_file": plan.get("sweep_file"),
        "cells": {"planned": len(cells), "done": len(cells) - len(missing), "partial": bool(missing),
                  "missing": [_cell_params(cell) for cell in missing]},
        "episodes": len(rows),
        "scenes": {task: len({row["episode_seed"] for row in task_rows})
                   for task, task_rows in sorted(_group(rows, _task).items())},
        "policies": [{"label": p["label"], "name": p["name"], "robot": p["robot"], "sha256": p["sha256"],
                      "cells_planned": sum(c["policy"] == p["label"] for c in cells),
                      "cells_done": sum(c["policy"] == p["label"] and c["key"] in by_cell for c in cells),
                      "episodes": len(by_policy.get(p["label"], []))} for p in policies],
        "tasks": {label: {task: rate.as_dict() for task, rate in per_task.items()}
                  for label, per_task in tasks.items()},
        "failures": {p["label"]: {task: _failure_counts(task_rows)
                                  for task, task_rows in _group(by_policy.get(p["label"], []), _task).items()}
                     for p in policies},
        "axes": {axis: _axis_summary(plan, axis, by_policy) for axis in plan["axes"]},
        "heatmap": _heatmap_summary(plan, by_policy),
        "worst_cells": _worst_cells(cells, by_cell),
        "comparisons": _comparisons(policies, cells, by_cell),
        "gates": {p["label"]: _gate(p, tasks[p["label"]]) for p in policies},
    }


def _group(rows: Iterable[dict], key) -> dict[Any, list[dict]]:
    groups: dict[Any, list[dict]] = defaultdict(list)
    for row in rows:
        groups[key(row)].append(row)
    return dict(groups)


def _task(row: dict) -> str:
    return row["task"]


def _failure_counts(rows: list[dict]) -> dict[str, int]:
    """Failed episodes per reason (``outcome.count_failures``), most frequent first."""
    counts = count_failures(row["failure"] for row in rows if not row["success"])
    return dict(sorted(counts.items(), key=lambda item: -item[1]))


def _cell_params(cell: dict) -> dict[str, Any]:
    return {name: cell.get(name) for name in ("key", "policy", "robot", "task", "point", "values", "seed", "episodes")}


def _levels(plan: dict, axis: str) -> Levels:
    """An axis's levels from the plan's randomization points (every planned value, done or not)."""
    values = {(cell["point"], cell["values"].get(axis)) for cell in plan["cells"]}
    return Levels.of(axis, (value for _, value in values if value is not None))


def _by_level(rows: list[dict], levels: Levels, count: int | None = None) -> list[Rate]:
    groups = _group(rows, lambda row: levels.index(row.get(AXIS_PREFIX + levels.axis)))
    return [Rate.of(groups.get(i, [])) for i in range(len(levels.lows) if count is None else count)]


def _rates(rates: list[Rate]) -> list[dict | None]:
    return [rate.as_dict() if rate.n else None for rate in rates]


def _axis_summary(plan: dict, axis: str, by_policy: dict[str, list[dict]]) -> dict[str, Any]:
    """Success per level of one axis, per policy: over everything else, and per task."""
    levels = _levels(plan, axis)
    per_policy = {}
    for policy in plan["policies"]:
        rows = by_policy.get(policy["label"], [])
        per_policy[policy["label"]] = {
            "all": _rates(_by_level(rows, levels)),
            "tasks": {task: _rates(_by_level(task_rows, levels)) for task, task_rows in _group(rows, _task).items()},
        }
    return {"binned": levels.binned, "levels": levels.as_dicts(), "policies": per_policy}


def _heatmap_summary(plan: dict, by_policy: dict[str, list[dict]]) -> dict[str, Any]:
    """Success over the grid of the first two axes per policy (rows: second axis), or why there is none."""
    axes = plan["axes"]
    if len(axes) < 2:
        why = "the sweep has no randomization axes" if not axes else f"the sweep has one randomization axis ({axes[0]})"
        return {"axes": list(axes), "reason": f"no heat map: {why}; a heat map needs two"}
    x_levels, y_levels = _levels(plan, axes[0]), _levels(plan, axes[1])
    grids = {}
    for policy in plan["policies"]:
        rows = by_policy.get(policy["label"], [])
        by_y = _group(rows, lambda row: y_levels.index(row.get(AXIS_PREFIX + y_levels.axis)))
        grids[policy["label"]] = [_rates(_by_level(by_y.get(j, []), x_levels)) for j in range(len(y_levels.lows))]
    return {"axes": axes[:2], "pooled_over": axes[2:], "reason": None,
            "x_levels": x_levels.as_dicts(), "y_levels": y_levels.as_dicts(), "grids": grids}


def _worst_cells(cells: list[dict], by_cell: dict[str, list[dict]]) -> list[dict[str, Any]]:
    """The finished cells with the lowest success; ties go to the lower upper bound (surer to be bad)."""
    done = [(cell, Rate.of(by_cell[cell["key"]])) for cell in cells if cell["key"] in by_cell]
    done.sort(key=lambda item: (item[1].rate, item[1].ci[1]))  # stable: plan order last
    return [{**_cell_params(cell), **rate.as_dict(), "failures": _failure_counts(by_cell[cell["key"]])}
            for cell, rate in done[:WORST_CELLS]]


def _comparisons(policies: list[dict], cells: list[dict], by_cell: dict[str, list[dict]]) -> list[dict[str, Any]]:
    """Each policy against the previous policy of the sweep for the same robot, on paired episodes."""
    matched: dict[str, dict[tuple, dict]] = defaultdict(dict)  # label -> (robot, task, point, seed) -> done cell
    for cell in cells:
        if cell["key"] in by_cell:
            matched[cell["policy"]][(cell["robot"], cell["task"], cell["point"], cell["seed"])] = cell
    comparisons = []
    for i, policy in enumerate(policies):
        earlier = [p for p in policies[:i] if p["robot"] == policy["robot"]]
        if not earlier:
            continue
        baseline = earlier[-1]
        per_cell, pooled = [], Paired()
        for where, cell in matched[policy["label"]].items():
            if where in matched[baseline["label"]]:
                base_cell = matched[baseline["label"]][where]
                paired = Paired.of(_outcomes(by_cell[base_cell["key"]]), _outcomes(by_cell[cell["key"]]))
                pooled += paired
                per_cell.append({**_cell_params(cell), "baseline_key": base_cell["key"], **paired.as_dict()})
        comparisons.append({
            "baseline": baseline["label"], "policy": policy["label"], "robot": policy["robot"],
            "matched_cells": len(per_cell), "pooled": pooled.as_dict(), "cells": per_cell,
            "better": [c["key"] for c in per_cell if c["verdict"] == "better"],
            "worse": [c["key"] for c in per_cell if c["verdict"] == "worse"],
        })
    return comparisons


def _outcomes(rows: list[dict]) -> dict[int, bool]:
    """A cell's episodes by episode seed: what pairs them across versions."""
    return {row["episode_seed"]: bool(row["success"]) for row in rows}


def _gate(policy: dict, tasks: dict[str, Rate]) -> dict[str, Any]:
    """The card's gate judged on this sweep's results pooled per task; passed is None when it cannot be judged."""
    gate = policy.get("gate")
    if not gate:
        return {"gate": None, "passed": None, "reasons": ["no gate in the card"]}
    if not tasks:
        return {"gate": gate.get("name"), "passed": None, "reasons": ["no finished cells of this policy yet"]}
    evaluation = {"tasks": {task: rate.as_dict() for task, rate in tasks.items()}}
    verdict = judge({"gate": gate, "evaluation": evaluation})
    return {"gate": gate.get("name"), "passed": verdict.passed, "reasons": verdict.reasons}


# --- figures ----------------------------------------------------------------------------------------------------


def draw_figures(summary: dict, out: Path) -> dict[str, Any]:
    """Draw every figure into out/figures; their paths relative to out, by axis and by policy label."""
    folder = Path(out) / "figures"
    folder.mkdir(parents=True, exist_ok=True)
    figures: dict[str, Any] = {"axes": {}, "heatmaps": {}}
    for axis, data in summary["axes"].items():
        name = f"figures/success_vs_{_slug(axis)}.png"
        _plot_axis(axis, data, summary["policies"], Path(out) / name)
        figures["axes"][axis] = name
    heatmap = summary["heatmap"]
    if heatmap["reason"] is None:
        for i, policy in enumerate(summary["policies"]):
            name = f"figures/heatmap_{i}_{_slug(policy['label'])}.png"
            _plot_heatmap(heatmap, policy, Path(out) / name)
            figures["heatmaps"][policy["label"]] = name
    return figures


def _plot_axis(axis: str, data: dict, policies: list[dict], path: Path) -> None:
    """Success against one axis, a line per policy with 95% Wilson error bars; a panel for all tasks, then each."""
    tasks = sorted({task for p in data["policies"].values() for task in p["tasks"]})
    panels = [("all tasks", None)] + ([(task, task) for task in tasks] if len(tasks) > 1 else [])
    columns = min(3, len(panels))
    rows = -(-len(panels) // columns)
    fig, grid = plt.subplots(rows, columns, figsize=(4.8 * columns, 3.6 * rows), dpi=90, squeeze=False)
    xs = [level["x"] for level in data["levels"]]
    span = (max(xs) - min(xs)) if len(xs) > 1 else 1.0
    for ax, (title, task) in zip(grid.flat, panels):
        for i, policy in enumerate(policies):
            per_policy = data["policies"][policy["label"]]
            rates = per_policy["all"] if task is None else per_policy["tasks"].get(task, [None] * len(xs))
            shift = (i - (len(policies) - 1) / 2) * 0.012 * span  # keep error bars of policies apart
            shown = [(x + shift, r) for x, r in zip(xs, rates) if r]
            if not shown:
                continue
            ys = [r["success_rate"] for _, r in shown]
            errors = [[y - r["ci_low"] for y, (_, r) in zip(ys, shown)],
                      [r["ci_high"] - y for y, (_, r) in zip(ys, shown)]]
            ax.errorbar([x for x, _ in shown], ys, yerr=errors, marker="o", capsize=3, label=policy["label"])
        ax.set_title(title)
        ax.set_ylim(-0.03, 1.05)
        ax.set_xlabel(axis + (" (quantile bins, at their midpoints)" if data["binned"] else ""))
        ax.set_ylabel("success rate (95% Wilson CI)")
        ax.grid(True, alpha=0.3)
        if data["binned"]:
            ax.set_xticks(xs, [level["label"] for level in data["levels"]], rotation=20, fontsize=7)
    for ax in list(grid.flat)[len(panels):]:
        ax.axis("off")
    grid.flat[0].legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _plot_heatmap(heatmap: dict, policy: dict, path: Path) -> None:
    """Success in each cell of the two-axis grid, annotated with the rate and the number of episodes."""
    grid = heatmap["grids"][policy["label"]]
    values = np.array([[np.nan if r is None else r["success_rate"] for r in row] for row in grid], dtype=float)
    x_labels = [level["label"] for level in heatmap["x_levels"]]
    y_labels = [level["label"] for level in heatmap["y_levels"]]
    fig, ax = plt.subplots(figsize=(1.3 * len(x_labels) + 3, 0.8 * len(y_labels) + 2.2), dpi=90)
    image = ax.imshow(np.ma.masked_invalid(values), origin="lower", cmap="RdYlGn", vmin=0.0, vmax=1.0, aspect="auto")
    for j, row in enumerate(grid):
        for i, rate in enumerate(row):
            text = "-" if rate is None else f"{rate['success_rate']:.0%}\nn={rate['episodes']}"
            dark = rate is not None and not 0.25 < rate["success_rate"] < 0.8
            ax.text(i, j, text, ha="center", va="center", fontsize=8, color="white" if dark else "black")
    ax.set_xticks(range(len(x_labels)), x_labels, rotation=20, fontsize=8)
    ax.set_yticks(range(len(y_labels)), y_labels, fontsize=8)
    x_axis, y_axis = heatmap["axes"]
    ax.set_xlabel(x_axis)
    ax.set_ylabel(y_axis)
    ax.set_title(f"{policy['label']} ({policy['robot']})", fontsize=10)
    fig.colorbar(image, ax=ax, label="success rate")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "x"


# --- report blocks ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 2


@dataclass(frozen=True)
class Text:
    text: str  # inline markup: `code` and **bold** only


@dataclass(frozen=True)
class Bullets:
    items: list[str]


@dataclass(frozen=True)
class Table:
    header: list[str]
    rows: list[list[str]]


@dataclass(frozen=True)
class Figure:
    alt: str
    path: str  # relative to the output folder


Block = Heading | Text | Bullets | Table | Figure


def report_blocks(summary: dict) -> list[Block]:
    """The report top-down, as blocks that both renderers share."""
    return [
        *_overview_blocks(summary),
        *_axis_blocks(summary),
        *_heatmap_blocks(summary),
        *_worst_blocks(summary),
        *_comparison_blocks(summary),
        *_gate_blocks(summary),
    ]


def _overview_blocks(summary: dict) -> list[Block]:
    cells = summary["cells"]
    blocks: list[Block] = [
        Heading(f"Sweep `{summary['name']}`", 1),
        Text((f"From `{summary['sweep_file']}`. " if summary["sweep_file"] else "")
             + f"{cells['done']} of {cells['planned']} cells done, {summary['episodes']} episodes."),
    ]
    if cells["partial"]:
        missing = cells["missing"]
        blocks += [
            Text(f"**This sweep is partial**: no results yet for {len(missing)} of its {cells['planned']} cells; "
                 "every number below covers the finished cells only. Missing cells:"),
            Table(["cell", "policy", "robot", "task", "point", "axis values", "seed", "episodes"],
                  [[f"`{c['key']}`", c["policy"], c["robot"], c["task"], str(c["point"]), _values(c["values"]),
                    str(c["seed"]), str(c["episodes"])] for c in missing[:MISSING_LISTED]]),
        ]
        if len(missing) > MISSING_LISTED:
            blocks.append(Text(f"... and {len(missing) - MISSING_LISTED} more (all of them in summary.json)."))
    blocks += [
        Heading("Policies", 3),
        Table(["policy", "bundle", "robot", "card sha256", "cells done", "episodes"],
              [[p["label"], p["name"], p["robot"], f"`{p['sha256'][:12]}`", f"{p['cells_done']} / {p['cells_planned']}",
                str(p["episodes"])] for p in summary["policies"]]),
        Heading("Success per task", 3),
        Table(["policy", "robot", "task", "success", "95% CI", "episodes", "why the failed ones failed"],
              [[p["label"], p["robot"], task, *_rate_cells(rate), _reasons(summary["failures"][p["label"]][task])]
               for p in summary["policies"] for task, rate in sorted(summary["tasks"][p["label"]].items())]),
    ]
    if summary["scenes"]:
        scenes = ", ".join(f"{task} {count}" for task, count in summary["scenes"].items())
        blocks.append(Text(
            f"Distinct scenes (episode seeds) per task: {scenes}. Every randomization point and every version runs "
            "the same scenes, so differences between points and between versions are paired; a pooled interval "
            "counts episodes, and one scene under several conditions is not several independent draws, so read "
            "pooled intervals over far more episodes than scenes as optimistic. Add seeds for more scenes."))
    return blocks


def _axis_blocks(summary: dict) -> list[Block]:
    blocks: list[Block] = [Heading("Success against each randomization axis")]
    if not summary["axes"]:
        return [*blocks, Text("The sweep has no randomization axes: every cell runs the nominal scene.")]
    blocks.append(Text("Per policy, pooled over the other axes, the tasks and the seeds; bars are 95% Wilson "
                       "intervals. An axis with many sampled values is cut into quantile bins."))
    labels = [p["label"] for p in summary["policies"]]
    for axis, data in summary["axes"].items():
        blocks += [
            Heading(f"`{axis}`" + (" (quantile bins)" if data["binned"] else ""), 3),
            Figure(f"success against {axis}", summary["figures"]["axes"][axis]),
            Table([axis, *labels], [[level["label"], *(_rate_short(data["policies"][label]["all"][i])
                                                       for label in labels)]
                                    for i, level in enumerate(data["levels"])]),
        ]
    return blocks


def _heatmap_blocks(summary: dict) -> list[Block]:
    heatmap = summary["heatmap"]
    blocks: list[Block] = [Heading("Heat map of the first two axes")]
    if heatmap["reason"] is not None:
        return [*blocks, Text(heatmap["reason"][0].upper() + heatmap["reason"][1:] + ".")]
    x_axis, y_axis = heatmap["axes"]
    pooled = ", ".join(["tasks", "seeds", *(f"`{a}`" for a in heatmap["pooled_over"])])
    blocks.append(Text(f"Success rate over `{x_axis}` (columns) and `{y_axis}` (rows) per policy, pooled over "
                       f"{pooled}; each square gives the rate and its number of episodes."))
    for policy in summary["policies"]:
        blocks.append(Figure(f"heat map of {policy['label']}", summary["figures"]["heatmaps"][policy["label"]]))
    return blocks


def _worst_blocks(summary: dict) -> list[Block]:
    worst = summary["worst_cells"]
    blocks: list[Block] = [Heading(f"The {WORST_CELLS} worst cells")]
    if not worst:
        return [*blocks, Text("No cell has finished yet.")]
    return [*blocks, Text("Lowest success first; ties go to the lower upper bound."),
            Table(["policy", "robot", "task", "axis values", "seed", "success", "95% CI", "episodes",
                   "why the failed ones failed"],
                  [[c["policy"], c["robot"], c["task"], _values(c["values"]), str(c["seed"]), *_rate_cells(c),
                    _reasons(c["failures"])] for c in worst])]


def _comparison_blocks(summary: dict) -> list[Block]:
    blocks: list[Block] = [Heading("Version comparison"), Text(
        "Each policy against the previous policy of the sweep for the same robot, on episodes paired by "
        "robot, task, randomization point, seed and episode seed; exact McNemar test, a change counts at "
        f"p < {SIGNIFICANCE}. Policies for different robots are not compared.")]
    if not summary["comparisons"]:
        return [*blocks, Text("No policy of this sweep follows an earlier one for the same robot: nothing to compare.")]
    for comparison in summary["comparisons"]:
        pooled = comparison["pooled"]
        blocks.append(Heading(f"{comparison['policy']} against {comparison['baseline']} ({comparison['robot']})", 3))
        if not comparison["matched_cells"]:
            blocks.append(Text("No finished cell of one has a finished counterpart in the other yet."))
            continue
        blocks.append(Text(
            f"Over {comparison['matched_cells']} matched cells ({pooled['pairs']} paired episodes): success "
            f"{_rate_text(pooled['new'])} against {_rate_text(pooled['baseline'])} for the baseline; "
            f"{pooled['c']} episodes only the new version solved, {pooled['b']} only the baseline; "
            f"p = {pooled['p']:.3g}: **{pooled['verdict']}**."))
        changed = [c for c in comparison["cells"] if c["verdict"] != "no significant change"]
        if changed:
            blocks.append(Table(
                ["change", "task", "axis values", "seed", "new", "baseline", "only new / only baseline", "p", "cell"],
                [[c["verdict"], c["task"], _values(c["values"]), str(c["seed"]), _rate_short(c["new"]),
                  _rate_short(c["baseline"]), f"{c['c']} / {c['b']}", f"{c['p']:.3g}", f"`{c['key']}`"]
                 for c in sorted(changed, key=lambda c: (c["verdict"], c["p"]))]))
        blocks.append(Text(f"Matched cells: {len(comparison['better'])} better, {len(comparison['worse'])} worse, "
                           f"{comparison['matched_cells'] - len(changed)} with no significant change."))
    return blocks


def _gate_blocks(summary: dict) -> list[Block]:
    partial = summary["cells"]["partial"] and " The sweep is partial: the verdicts cover the finished cells only."
    blocks: list[Block] = [Heading("Gate verdicts under this sweep's conditions"), Text(
        "Each card's gate judged on this sweep's results pooled per task (over every randomization point and "
        "seed). This sweep's randomization may be harsher than the card's own evaluation, so a failure here "
        "says the policy does not hold up under these conditions; the card's verdict is unchanged." + (partial or ""))]
    for policy in summary["policies"]:
        gate = summary["gates"][policy["label"]]
        verdict = {True: "**PASS**", False: "**FAIL**", None: "not judged"}[gate["passed"]]
        name = f" ({gate['gate']} gate)" if gate["gate"] else ""
        blocks += [Text(f"{policy['label']}{name}: {verdict}"), Bullets(gate["reasons"])]
    return blocks


def _values(values: dict[str, float]) -> str:
    return ", ".join(f"{axis}={value:.3g}" for axis, value in values.items()) or "-"


def _reasons(counts: dict[str, int]) -> str:
    return describe_failures(counts) or "-"


def _rate_cells(rate: dict) -> list[str]:
    return [f"{rate['success_rate']:.1%}", f"{rate['ci_low']:.1%} to {rate['ci_high']:.1%}", str(rate["episodes"])]


def _rate_text(rate: dict) -> str:
    return f"{rate['success_rate']:.1%} ({rate['ci_low']:.1%} to {rate['ci_high']:.1%})"


def _rate_short(rate: dict | None) -> str:
    if rate is None or not rate["episodes"]:
        return "-"
    return f"{rate['success_rate']:.0%} ({rate['ci_low']:.0%} to {rate['ci_high']:.0%}), n={rate['episodes']}"


# --- rendering --------------------------------------------------------------------------------------------------


def render_markdown(blocks: list[Block]) -> str:
    lines: list[str] = []
    for block in blocks:
        if isinstance(block, Heading):
            lines.append("#" * block.level + " " + block.text)
        elif isinstance(block, Text):
            lines.append(block.text)
        elif isinstance(block, Bullets):
            lines += [f"- {item}" for item in block.items]
        elif isinstance(block, Table):
            lines.append("| " + " | ".join(block.header) + " |")
            lines.append("|" + " --- |" * len(block.header))
            lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in block.rows]
        elif isinstance(block, Figure):
            lines.append(f"![{block.alt}]({block.path})")
        lines.append("")
    return "\n".join(lines)


CSS = """body { font-family: sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }
th { background: #f0f0f0; }
code { background: #f4f4f4; padding: 0 0.2em; }
img { max-width: 100%; }"""


def render_html(blocks: list[Block], out: Path, title: str) -> str:
    """One self-contained page: inline CSS, figures embedded as base64 PNG."""
    parts = [f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>",
             f"<style>\n{CSS}\n</style></head><body>"]
    for block in blocks:
        if isinstance(block, Heading):
            parts.append(f"<h{block.level}>{_inline(block.text)}</h{block.level}>")
        elif isinstance(block, Text):
            parts.append(f"<p>{_inline(block.text)}</p>")
        elif isinstance(block, Bullets):
            parts.append("<ul>" + "".join(f"<li>{_inline(item)}</li>" for item in block.items) + "</ul>")
        elif isinstance(block, Table):
            head = "".join(f"<th>{_inline(cell)}</th>" for cell in block.header)
            body = "".join("<tr>" + "".join(f"<td>{_inline(cell)}</td>" for cell in row) + "</tr>"
                           for row in block.rows)
            parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        elif isinstance(block, Figure):
            data = base64.b64encode((Path(out) / block.path).read_bytes()).decode("ascii")
            parts.append(f"<p><img alt=\"{html.escape(block.alt)}\" src=\"data:image/png;base64,{data}\"></p>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _inline(text: str) -> str:
    """Escape text for HTML, then turn `code` and **bold** into tags."""
    text = re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text))
    return re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", text)
