"""A sweep's episode rows aggregated into the numbers of its report (``summary.json``, plain JSON data).

Every success rate comes with its 95% Wilson interval. An axis is grouped into levels
(one per value, or quantile bins for sampled values); versions of a policy for the same
robot are compared on paired episodes (same robot, task, randomization point, seed and
episode seed) with the exact McNemar test; each card's gate is judged on the pooled rates.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from robostral.bundle.gate import judge_evaluation
from robostral.evaluation.outcome import count_failures
from robostral.stats import Paired, success_summary, wilson_interval
from robostral.sweep.store import AXIS_PREFIX

REPORT_FORMAT = "robostral-sweep-report/1"
EXACT_LEVELS = 6  # an axis with at most this many distinct values gets one level per value ...
QUANTILE_BINS = 5  # ... one with more (sampled values) is cut into this many quantile bins
WORST_CELLS = 10


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
    verdict = judge_evaluation(gate, evaluation)
    return {"gate": gate.get("name"), "passed": verdict.passed, "reasons": verdict.reasons}
