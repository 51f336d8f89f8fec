"""What a sweep's report says, section by section: its summary (``robostral.sweep.aggregate``) as blocks that
``robostral.sweep.render`` turns into Markdown and HTML."""

from __future__ import annotations

from robostral.evaluation.outcome import describe_failures
from robostral.markdown import interval_text, rate_text
from robostral.stats import SIGNIFICANCE
from robostral.sweep.aggregate import WORST_CELLS
from robostral.sweep.render import Block, Bullets, Figure, Heading, Table, Text

MISSING_LISTED = 20  # missing cells listed in the report (summary.json lists all)


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
            *_figure(summary, "axes", axis, f"success against {axis}"),
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
        blocks += _figure(summary, "heatmaps", policy["label"], f"heat map of {policy['label']}")
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
            f"{rate_text(pooled['new'])} against {rate_text(pooled['baseline'])} for the baseline; "
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


def _figure(summary: dict, kind: str, key: str, alt: str) -> list[Block]:
    """The figure drawn for ``key`` (an axis, a policy label), or a line saying that the figures failed to draw."""
    figures = summary["figures"]
    if figures is None:
        return [Text(f"(No figure: {alt} could not be drawn; the numbers are complete.)")]
    return [Figure(alt, figures[kind][key])]


def _values(values: dict[str, float]) -> str:
    return ", ".join(f"{axis}={value:.3g}" for axis, value in values.items()) or "-"


def _reasons(counts: dict[str, int]) -> str:
    return describe_failures(counts) or "-"


def _rate_cells(rate: dict) -> list[str]:
    return [f"{rate['success_rate']:.1%}", interval_text(rate), str(rate["episodes"])]


def _rate_short(rate: dict | None) -> str:
    if rate is None or not rate["episodes"]:
        return "-"
    return f"{rate_text(rate, decimals=0)}, n={rate['episodes']}"
