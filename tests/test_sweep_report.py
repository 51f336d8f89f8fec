"""The sweep report on synthetic sweep folders: rows with chosen successes, written through the real store."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path

import pytest

from robostral.bundle.gate import GATES
from robostral.stats import wilson_interval
from robostral.sweep.report import write_report
from robostral.sweep.store import AXIS_PREFIX, write_cell, write_plan


def policy(label: str, robot: str = "panda", gate: dict | None = None) -> dict:
    return {"label": label, "name": label.rsplit("/", 1)[-1], "sha256": hashlib.sha256(label.encode()).hexdigest(),
            "robot": robot, "gate": gate}


def make_sweep(out: Path, policies: list[dict], points: list[dict[str, float]], outcome, *, tasks=("reach",),
               seeds=(0,), skip=()) -> dict[tuple, str]:
    """Write a sweep folder; ``outcome(label, task, point, seed)`` gives a cell's successes, one per episode
    (True, False, or the reason a failed one failed).

    Returns each cell's key by (label, task, point, seed); cells named in ``skip`` are planned, not stored.
    Episode seeds depend on (task, point, seed, episode) only, so policies pair up as in a real sweep.
    """
    axes = list(points[0]) if points else []
    points = points or [{}]
    cells, keys = [], {}
    for p in policies:
        for task in tasks:
            for point, values in enumerate(points):
                for seed in seeds:
                    where = (p["label"], task, point, seed)
                    key = hashlib.sha256(repr(where).encode()).hexdigest()[:16]
                    keys[where] = key
                    cells.append({"key": key, "policy": p["label"], "robot": p["robot"], "task": task, "point": point,
                                  "values": values, "seed": seed, "episodes": len(outcome(*where))})
    write_plan(out, {"name": "synthetic", "sweep_file": "sweeps/synthetic.yaml", "axes": axes, "policies": policies,
                     "cells": cells})
    robots = {p["label"]: p for p in policies}
    for cell in cells:
        where = (cell["policy"], cell["task"], cell["point"], cell["seed"])
        if where in skip:
            continue
        rows = [{"cell": cell["key"], "policy": cell["policy"], "policy_sha256": robots[cell["policy"]]["sha256"],
                 "robot": cell["robot"], "task": cell["task"], "point": cell["point"], "seed": cell["seed"],
                 "episode": i, "episode_seed": 1000 * cell["seed"] + 100 * cell["point"] + i,
                 "success": success is True, "failure": success if isinstance(success, str) else None,
                 "steps": 10, "instruction": "do it", **{AXIS_PREFIX + a: v for a, v in cell["values"].items()}}
                for i, success in enumerate(outcome(*where))]
        write_cell(out, cell["key"], rows, axes)
    return keys


def successes(k: int, n: int) -> list[bool]:
    return [True] * k + [False] * (n - k)


def report(out: Path) -> tuple[dict, str]:
    path = write_report(out)
    assert path == out / "report.md"
    return json.loads((out / "summary.json").read_text()), path.read_text()


def section(markdown: str, title: str) -> str:
    """The text of one '## title' section of the report."""
    return markdown.split(f"## {title}", 1)[1].split("\n## ", 1)[0]


# --- rates, axes, heat map ---------------------------------------------------------------------------------------


def test_rates_and_wilson_intervals_match_known_counts(tmp_path):
    # one axis, two points; point 0: 3 of 10 per seed, point 1: 9 of 10; two tasks, two seeds
    counts = {0: 3, 1: 9}
    make_sweep(tmp_path, [policy("policies/a")], [{"light": 0.2}, {"light": 0.8}],
               lambda label, task, point, seed: successes(counts[point] - (task == "push"), 10),
               tasks=("reach", "push"), seeds=(0, 1))
    summary, markdown = report(tmp_path)

    reach = summary["tasks"]["policies/a"]["reach"]  # (3 + 9) * 2 seeds = 24 of 40
    assert (reach["successes"], reach["episodes"], reach["success_rate"]) == (24, 40, 0.6)
    assert (reach["ci_low"], reach["ci_high"]) == pytest.approx(wilson_interval(24, 40))
    push = summary["tasks"]["policies/a"]["push"]  # (2 + 8) * 2 = 20 of 40
    assert (push["successes"], push["episodes"]) == (20, 40)
    assert (push["ci_low"], push["ci_high"]) == pytest.approx(wilson_interval(20, 40))

    light = summary["axes"]["light"]
    assert not light["binned"]
    assert [level["x"] for level in light["levels"]] == [0.2, 0.8]
    low, high = light["policies"]["policies/a"]["all"]  # pooled over tasks and seeds
    assert (low["successes"], low["episodes"]) == (3 * 2 + 2 * 2, 40)
    assert (high["successes"], high["episodes"]) == (9 * 2 + 8 * 2, 40)
    assert (high["ci_low"], high["ci_high"]) == pytest.approx(wilson_interval(34, 40))
    per_task = light["policies"]["policies/a"]["tasks"]["push"]
    assert [r["successes"] for r in per_task] == [4, 16]

    assert (tmp_path / summary["figures"]["axes"]["light"]).is_file()
    low_ci, high_ci = wilson_interval(24, 40)
    assert f"| policies/a | panda | reach | 60.0% | {low_ci:.1%} to {high_ci:.1%} | 40 |" in markdown
    assert summary["cells"] == {"planned": 8, "done": 8, "partial": False, "missing": []}
    assert summary["episodes"] == 80


def test_heat_map_over_two_axes(tmp_path):
    points = [{"light": light, "friction": friction} for light in (0.0, 0.5, 1.0) for friction in (0.2, 0.9)]
    make_sweep(tmp_path, [policy("policies/a"), policy("policies/b", "xarm6")], points,
               lambda label, task, point, seed: successes(point * 2 + (label == "policies/b"), 10))
    summary, markdown = report(tmp_path)

    heatmap = summary["heatmap"]
    assert heatmap["axes"] == ["light", "friction"] and heatmap["reason"] is None
    grid = heatmap["grids"]["policies/a"]  # rows: friction, columns: light; point = 2 * light index + friction index
    assert [[cell["successes"] for cell in row] for row in grid] == [[0, 4, 8], [2, 6, 10]]
    assert [[cell["successes"] for cell in row] for row in heatmap["grids"]["policies/b"]] == [[1, 5, 9], [3, 7, 11]]
    for label in ("policies/a", "policies/b"):
        png = tmp_path / summary["figures"]["heatmaps"][label]
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"![heat map of {label}]({summary['figures']['heatmaps'][label]})" in markdown
    assert "no heat map" not in markdown


def test_sampled_axis_values_are_binned(tmp_path):
    values = [0.05 * i + 0.001 * (i % 3) for i in range(20)]  # 20 distinct sampled values
    points = [{"light": light, "friction": 1.0 - light} for light in values]
    make_sweep(tmp_path, [policy("policies/a")], points, lambda label, task, point, seed: successes(point % 5, 5))
    summary, _ = report(tmp_path)

    light = summary["axes"]["light"]
    assert light["binned"] and len(light["levels"]) == 5
    rates = light["policies"]["policies/a"]["all"]
    assert [r["episodes"] for r in rates] == [20] * 5  # four points of five episodes per quantile bin
    assert sum(r["successes"] for r in rates) == sum(i % 5 for i in range(20))
    assert light["levels"][0]["low"] == values[0] and light["levels"][-1]["high"] == values[-1]
    assert light["levels"][-1]["label"].endswith("]") and light["levels"][0]["label"].endswith(")")
    assert len(summary["heatmap"]["grids"]["policies/a"]) == 5  # 5 x 5, not 20 x 20


@pytest.mark.parametrize("points, why", [
    ([{"light": 0.1}, {"light": 0.9}], "the sweep has one randomization axis (light)"),
    ([], "the sweep has no randomization axes"),
])
def test_no_heat_map_without_two_axes(tmp_path, points, why):
    make_sweep(tmp_path, [policy("policies/a")], points, lambda *cell: successes(4, 8))
    summary, markdown = report(tmp_path)

    assert summary["heatmap"]["reason"] == f"no heat map: {why}; a heat map needs two"
    assert f"No heat map: {why}; a heat map needs two." in section(markdown, "Heat map of the first two axes")
    assert summary["figures"]["heatmaps"] == {}
    assert not list((tmp_path / "figures").glob("heatmap*"))
    if not points:
        assert summary["axes"] == {} and "The sweep has no randomization axes" in markdown


# --- worst cells, partial sweeps, HTML ----------------------------------------------------------------------------


def test_worst_cells_lowest_success_first_ties_by_upper_bound(tmp_path):
    # point -> (successes, episodes): 0 of 5 and 0 of 20 tie on rate, 0 of 20 has the lower upper bound
    cells = {0: (5, 10), 1: (0, 5), 2: (9, 10), 3: (0, 20), 4: (1, 20), 5: (2, 4), 6: (3, 10), 7: (10, 10),
             8: (4, 10), 9: (7, 10), 10: (6, 10), 11: (8, 10)}
    make_sweep(tmp_path, [policy("policies/a")], [{"light": float(i)} for i in cells],
               lambda label, task, point, seed: successes(*cells[point]))
    summary, markdown = report(tmp_path)

    worst = summary["worst_cells"]
    assert len(worst) == 10
    assert [c["point"] for c in worst] == [3, 1, 4, 6, 8, 0, 5, 10, 9, 11]
    assert (worst[0]["ci_high"], worst[1]["ci_high"]) == pytest.approx((wilson_interval(0, 20)[1],
                                                                         wilson_interval(0, 5)[1]))
    assert worst[0]["values"] == {"light": 3.0} and worst[0]["episodes"] == 20
    table = section(markdown, f"The {10} worst cells")
    assert table.index("light=3 ") < table.index("light=1 ") < table.index("light=4 ")
    assert "light=2 " not in table and "light=7 " not in table  # the two best cells are not among the worst


def test_partial_sweep_lists_its_missing_cells(tmp_path):
    keys = make_sweep(tmp_path, [policy("policies/a")], [{"light": 0.1}, {"light": 0.9}],
                      lambda *cell: successes(3, 6), seeds=(0, 1), skip={("policies/a", "reach", 1, 1)})
    summary, markdown = report(tmp_path)

    missing_key = keys[("policies/a", "reach", 1, 1)]
    assert summary["cells"]["planned"] == 4 and summary["cells"]["done"] == 3 and summary["cells"]["partial"]
    assert [(c["key"], c["point"], c["seed"], c["values"]) for c in summary["cells"]["missing"]] == [
        (missing_key, 1, 1, {"light": 0.9})]
    assert "**This sweep is partial**: no results yet for 1 of its 4 cells" in markdown
    assert f"| `{missing_key}` | policies/a | panda | reach | 1 | light=0.9 | 1 | 6 |" in markdown
    assert summary["episodes"] == 18 and summary["tasks"]["policies/a"]["reach"]["episodes"] == 18
    assert "3 of 4 cells done" in markdown


def test_html_is_self_contained(tmp_path):
    points = [{"light": a, "friction": b} for a in (0.1, 0.9) for b in (0.3, 0.6)]
    make_sweep(tmp_path, [policy("policies/a"), policy("policies/b")], points, lambda *cell: successes(2, 4))
    summary, _ = report(tmp_path)

    page = (tmp_path / "report.html").read_text()
    images = re.findall(r'<img alt="[^"]*" src="data:image/png;base64,([A-Za-z0-9+/=]+)">', page)
    figures = [*summary["figures"]["axes"].values(), *summary["figures"]["heatmaps"].values()]
    assert len(figures) == 4 and len(images) == 4  # two axes, two heat maps
    assert sorted(base64.b64decode(image) for image in images) == sorted(
        (tmp_path / name).read_bytes() for name in figures)
    assert "http://" not in page and "https://" not in page
    assert "<link" not in page and "<script" not in page and "<style>" in page
    assert "<h1>Sweep <code>synthetic</code></h1>" in page


# --- version comparison --------------------------------------------------------------------------------------------


def test_new_version_better_on_one_cell_worse_on_another(tmp_path):
    # panda v1 -> v2 -> v3, with an xarm6 policy in between that is never compared to them
    v1, v2, v3 = "policies/arm-v1", "policies/arm-v2", "policies/arm-v3"

    def outcome(label, task, point, seed):
        if label in (v2, v3):  # point 0 worse, point 1 better, point 2 shifted by one episode (b = c = 1)
            return {0: successes(0, 20), 1: successes(20, 20), 2: [False] + successes(10, 19)}[point]
        return {0: successes(20, 20), 1: successes(0, 20), 2: successes(10, 20)}[point]

    keys = make_sweep(tmp_path, [policy(v1), policy("policies/other", "xarm6"), policy(v2), policy(v3)],
                      [{"light": 0.0}, {"light": 0.5}, {"light": 1.0}], outcome)
    summary, markdown = report(tmp_path)

    first, second = summary["comparisons"]
    assert (first["baseline"], first["policy"], second["baseline"], second["policy"]) == (v1, v2, v2, v3)
    assert all("policies/other" not in (c["baseline"], c["policy"]) for c in summary["comparisons"])

    assert first["matched_cells"] == 3
    assert first["worse"] == [keys[(v2, "reach", 0, 0)]] and first["better"] == [keys[(v2, "reach", 1, 0)]]
    worse, better, same = first["cells"]
    assert (worse["b"], worse["c"], worse["verdict"]) == (20, 0, "worse")
    assert worse["p"] == pytest.approx(2 / 2**20)
    assert (better["b"], better["c"], better["verdict"]) == (0, 20, "better")
    assert (same["b"], same["c"], same["p"], same["verdict"]) == (1, 1, 1.0, "no significant change")
    assert (same["baseline"]["successes"], same["new"]["successes"], same["pairs"]) == (10, 10, 20)
    pooled = first["pooled"]
    assert (pooled["pairs"], pooled["b"], pooled["c"], pooled["verdict"]) == (60, 21, 21, "no significant change")
    assert pooled["baseline"]["success_rate"] == pooled["new"]["success_rate"] == 0.5
    assert (second["better"], second["worse"], second["pooled"]["b"], second["pooled"]["c"]) == ([], [], 0, 0)

    text = section(markdown, "Version comparison")
    assert f"`{keys[(v2, 'reach', 0, 0)]}`" in text and f"`{keys[(v2, 'reach', 1, 0)]}`" in text
    assert keys[(v2, "reach", 2, 0)] not in text  # the unchanged cell is not listed
    assert "Matched cells: 1 better, 1 worse, 1 with no significant change." in text
    assert "p = 1: **no significant change**" in text


def test_different_robots_are_not_compared(tmp_path):
    make_sweep(tmp_path, [policy("policies/a"), policy("policies/b", "xarm6")], [{"light": 0.5}],
               lambda label, task, point, seed: successes(10 if label == "policies/a" else 0, 10))
    summary, markdown = report(tmp_path)

    assert summary["comparisons"] == []
    assert "nothing to compare" in section(markdown, "Version comparison")


# --- gates -------------------------------------------------------------------------------------------------------


def test_gate_verdicts_under_the_sweep(tmp_path):
    lenient = {**GATES["preview"], "min_episodes": 40}
    policies = [policy("policies/preview", gate=GATES["preview"]), policy("policies/lenient", gate=lenient),
                policy("policies/production", gate=GATES["production"]), policy("policies/none")]
    make_sweep(tmp_path, policies, [{"light": 0.1}, {"light": 0.9}],
               lambda label, task, point, seed: successes(15, 20), tasks=("reach", "push"))
    summary, markdown = report(tmp_path)
    gates = summary["gates"]

    # 40 episodes per task at 75%: the preview gate wants 100 per task
    assert gates["policies/preview"]["passed"] is False and gates["policies/preview"]["gate"] == "preview"
    assert "reach: success_rate 0.750 >= 0.05 over 40 episodes (fewer than the 100 required) - FAIL" in (
        gates["policies/preview"]["reasons"])
    assert gates["policies/lenient"]["passed"] is True
    assert gates["policies/lenient"]["reasons"][-1] == "mean success_rate over the tasks 0.750 >= 0.25 - pass"
    low = wilson_interval(30, 40)[0]
    assert gates["policies/production"]["passed"] is False
    assert f"push: ci_low {low:.3f} < 0.90 over 40 episodes (fewer than the 100 required) - FAIL" in (
        gates["policies/production"]["reasons"])
    assert gates["policies/none"] == {"gate": None, "passed": None, "reasons": ["no gate in the card"]}

    text = section(markdown, "Gate verdicts under this sweep's conditions")
    assert "harsher than the card's own evaluation" in text
    assert "policies/preview (preview gate): **FAIL**" in text and "policies/lenient (preview gate): **PASS**" in text
    assert "policies/none: not judged\n\n- no gate in the card" in text


def test_failure_reasons_are_counted_per_task_and_worst_cell(tmp_path):
    def outcome(label, task, point, seed):  # point 1 (slippery) drops more; push's failures carry no reason
        if task == "push":
            return [True, False, False]
        return [True, "dropped by the goal", "never lifted"] + ["dropped by the goal"] * (2 * point)

    make_sweep(tmp_path, [policy("policies/a")], [{"friction": 1.0}, {"friction": 0.3}], outcome,
               tasks=("stack", "push"))
    summary, markdown = report(tmp_path)

    assert summary["failures"]["policies/a"] == {"stack": {"dropped by the goal": 4, "never lifted": 2},
                                                 "push": {"not recorded": 4}}  # most frequent first
    [worst, *_] = summary["worst_cells"]
    assert worst["task"] == "stack" and worst["values"] == {"friction": 0.3}
    assert worst["failures"] == {"dropped by the goal": 3, "never lifted": 1}
    per_task = section(markdown, "Success per task")
    low, high = wilson_interval(2, 8)  # stack: 1 of 3 at point 0, 1 of 5 at point 1
    assert f"| stack | 25.0% | {low:.1%} to {high:.1%} | 8 | dropped by the goal 4, never lifted 2 |" in per_task
    assert "| push | 33.3% |" in per_task and "| 6 | not recorded 4 |" in per_task
    assert "dropped by the goal 3, never lifted 1 |" in section(markdown, "The 10 worst cells")


# --- robustness ----------------------------------------------------------------------------------------------------


def test_all_or_nothing_levels_draw_their_error_bars(tmp_path):
    # 100 of 100 once gave a Wilson upper bound below the rate: a negative error bar that matplotlib refused
    make_sweep(tmp_path, [policy("policies/a")], [{"light": 0.2}, {"light": 0.8}],
               lambda label, task, point, seed: successes(100 * point, 100))
    summary, _ = report(tmp_path)
    low, high = summary["axes"]["light"]["policies"]["policies/a"]["all"]
    assert (low["ci_low"], high["ci_high"]) == (0.0, 1.0)
    assert (tmp_path / summary["figures"]["axes"]["light"]).is_file()


def test_a_figure_that_fails_to_draw_loses_nothing_but_the_figure(tmp_path, monkeypatch):
    from robostral.figures import FigureWarning
    from robostral.sweep import report as sweep_report

    def broken(summary, out):
        raise ValueError("'yerr' must not contain negative values")

    monkeypatch.setattr(sweep_report, "draw_figures", broken)
    make_sweep(tmp_path, [policy("policies/a")], [{"light": 0.2}, {"light": 0.8}],
               lambda label, task, point, seed: successes(3, 10))
    with pytest.warns(FigureWarning, match="must not contain negative values"):
        summary, markdown = report(tmp_path)
    assert summary["figures"] is None and summary["tasks"]["policies/a"]["reach"]["episodes"] == 20
    assert "No figure: success against light could not be drawn" in markdown
    assert "<img" not in (tmp_path / "report.html").read_text()
