"""The learning-curve PNG written next to metrics.csv."""

from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def plot_learning_curve(metrics_csv: Path, png: Path) -> Path:
    """Training and validation loss against optimizer steps, log scale."""
    rows = list(csv.DictReader(metrics_csv.open()))
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    for column, label in (("train_loss", "training"), ("val_loss", "validation")):
        points = [(int(r["step"]), float(r[column])) for r in rows if r.get(column)]
        if points:
            steps, values = zip(*points)
            ax.plot(steps, values, marker="o" if column == "val_loss" else None, markersize=3, label=label)
    ax.set_yscale("log")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("L1 loss (normalized action chunk)")
    ax.set_title("Robostral-S learning curve")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(png)
    plt.close(fig)
    return png
