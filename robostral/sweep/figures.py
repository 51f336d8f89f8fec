"""The figures of a sweep's report, drawn from its summary: success against each axis, and a heat map over the
first two axes per policy."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from robostral.stats import error_bars  # noqa: E402


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
            errors = error_bars([r for _, r in shown])
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
