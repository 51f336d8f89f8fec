"""Turn per-episode results into the evaluation report: numbers (JSON), a table (markdown) and a chart (PNG)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from robostral.evaluation.outcome import FAILURES, count_failures  # noqa: E402
from robostral.evaluation.rollouts import ChainResult, EpisodeResult, LinkResult  # noqa: E402
from robostral.evaluation.supervised import CONTROLLER_WORDS  # noqa: E402
from robostral.markdown import rate_text, table  # noqa: E402
from robostral.stats import error_bars, success_summary, wilson_interval  # noqa: E402
from sim.tasks.chain import CHAIN_LENGTH  # noqa: E402


def summarize_episodes(results: Sequence[EpisodeResult]) -> dict:
    """Success rate, Wilson interval, mean episode length (control steps) and why episodes failed,
    of one task and split."""
    summary = success_summary(sum(r.success for r in results), len(results))
    summary["mean_length"] = sum(r.steps for r in results) / len(results) if results else None
    summary["failures"] = summarize_failures(results)
    return summary


def summarize_failures(results: Sequence[EpisodeResult]) -> dict[str, int]:
    """Failed episodes per reason (``outcome.count_failures``)."""
    return count_failures(r.failure for r in results if not r.success)


def summarize_choice(results: Sequence[EpisodeResult]) -> dict | None:
    """How often the first object disturbed was the named one, over episodes where one was (see ``choice``).

    None for tasks without distractors (reach).
    """
    if results and results[0].task == "reach":
        return None
    chose = [r for r in results if r.first_moved is not None]
    named = sum(r.first_moved == r.named for r in chose)
    low, high = wilson_interval(named, len(chose))
    return {"choices": len(chose), "named": named, "no_choice": len(results) - len(chose),
            "rate": named / len(chose) if chose else None, "ci_low": low, "ci_high": high}


def summarize_chains(results: Sequence[ChainResult]) -> dict:
    """CALVIN's numbers: average links completed and the share of chains completing at least k links."""
    n = len(results)
    counts = [sum(r.completed == k for r in results) for k in range(CHAIN_LENGTH + 1)]
    return {
        "episodes": n,
        "length": CHAIN_LENGTH,
        "average_completed": sum(r.completed for r in results) / n if n else None,
        "completed_counts": counts,  # index k: chains that completed exactly k links
        "success_at": [sum(counts[k:]) / n if n else None for k in range(1, CHAIN_LENGTH + 1)],
    }


def summarize_links(links: Sequence[Sequence[LinkResult]]) -> dict[str, dict]:
    """Per chain link (keyed "1".."5"): the policy's success after the expert's lead-in, with its Wilson interval.

    Seeds whose lead-in the expert failed are counted apart (``lead_in_failed``), not as the policy's failures.
    """
    summaries = {}
    for results in links:
        attempted = [r for r in results if r.led_in]
        summaries[str(results[0].link)] = {**success_summary(sum(r.success for r in attempted), len(attempted)),
                                           "lead_in_failed": len(results) - len(attempted),
                                           "failures": summarize_failures(attempted)}
    return summaries


def task_summary(train: Sequence[EpisodeResult], heldout: Sequence[EpisodeResult]) -> dict:
    """One task's block of the report: train-phrasing numbers, then ``heldout`` and ``distractor``."""
    return {**summarize_episodes(train), "heldout": summarize_episodes(heldout) if heldout else None,
            "distractor": summarize_choice(train)}


def write_markdown(report: dict, path: Path) -> Path:
    """A readable table of the report, with the chart and videos linked."""
    tasks = [[task, _percent(t), str(t["episodes"]), _number(t["mean_length"]),
              _percent(t["heldout"]) + f" of {t['heldout']['episodes']}" if t["heldout"] else "-",
              _choice(t["distractor"])] for task, t in report["tasks"].items()]
    lines = [
        f"# Evaluation of `{report['bundle_name']}` on {report['robot']}",
        "",
        f"`{report['command']}`  ",
        f"Seeds {report['seeds']['first']} to {report['seeds']['last']}, randomization on; "
        f"runtime: ONNX Runtime ({'int8' if report['int8'] else 'fp32'}); "
        f"targets to the arm: {CONTROLLER_WORDS[report.get('controller', 'direct')]}.",
        "",
        table(["task", "success (95% CI)", "episodes", "mean length", "held-out phrasings (95% CI)",
               "named object chosen"], tasks, right=(2, 3)),
        "",
    ]
    if report["mean_success_rate"] is not None:
        lines.append(f"Mean success over the tasks: {report['mean_success_rate']:.1%}.")
    chains = report["chains"]
    if chains:
        at = ", ".join(f"{k + 1}: {p:.0%}" for k, p in enumerate(chains["success_at"]))
        lines.append(f"Chains of {chains['length']}: average {chains['average_completed']:.2f} completed "
                     f"over {chains['episodes']} chains (completing at least k links: {at}).")
    links = report.get("chain_links")
    if links:
        lines += ["", "Each chain link alone, the expert completing the links before it:", "",
                  table(["link", "success (95% CI)", "episodes", "expert lead-in failed"],
                        [[link, _percent(block), str(block["episodes"]), str(block["lead_in_failed"])]
                         for link, block in links.items()], right=(0, 2, 3))]
    lines += _failure_table(report)
    gate = report.get("gate")
    if gate:
        lines += ["", f"Gate: **{'PASS' if gate['passed'] else 'FAIL'}**", ""]
        lines += [f"- {reason}" for reason in gate["reasons"]]
    chart = report["chart"]
    lines += ["", f"![success per task]({chart})" if chart else "(No chart: it could not be drawn.)", ""]
    lines += [f"- [{Path(video).stem}]({video})" for video in report["videos"]]
    path.write_text("\n".join(lines) + "\n")
    return path


def _failure_rows(report: dict) -> dict[str, tuple[dict | None, dict | None]]:
    """Per task, then per chain link: the (train, held-out phrasings) summaries, None where not run."""
    rows = {task: (t, t["heldout"]) for task, t in report["tasks"].items()}
    for link, block in (report.get("chain_links") or {}).items():
        rows[f"chain link {link}"] = (block, None)
    return rows


def _reasons_seen(rows: dict[str, tuple[dict | None, dict | None]]) -> list[str]:
    return [r for r in FAILURES if any(block and r in block["failures"] for pair in rows.values() for block in pair)]


def _failure_table(report: dict) -> list[str]:
    """Markdown lines: why the failed episodes failed, per task (train / held-out phrasings) and chain link."""
    blocks = _failure_rows(report)
    rows = {name: tuple(block["failures"] if block else None for block in pair) for name, pair in blocks.items()}
    reasons = _reasons_seen(blocks)
    if not reasons:
        return []

    def cell(pair: tuple, reason: str) -> str:
        train, heldout = (counts.get(reason, 0) if counts is not None else None for counts in pair)
        return str(train) if heldout is None else f"{train} / {heldout}"

    def failed(pair: tuple) -> str:
        return " / ".join(str(sum(counts.values())) for counts in pair if counts is not None)

    return ["", "Why the failed episodes failed (train / held-out phrasings; see `robostral/evaluation/outcome.py`):",
            "", table(["", "failed", *reasons], [[name, failed(pair), *(cell(pair, reason) for reason in reasons)]
                                                for name, pair in rows.items()], right=range(1, 2 + len(reasons)))]


def plot_report(report: dict, path: Path) -> Path:
    """Success per task with 95% Wilson error bars (train vs held-out phrasings), the chain curve, and why
    episodes failed."""
    tasks = list(report["tasks"])
    fig, (left, right, why) = plt.subplots(1, 3, figsize=(18, 4.5), dpi=100, gridspec_kw={"width_ratios": [3, 2, 3]})
    width = 0.38
    for offset, key, name in ((-width / 2, None, "train phrasings"), (width / 2, "heldout", "held-out phrasings")):
        blocks = [report["tasks"][t] if key is None else report["tasks"][t][key] for t in tasks]
        xs = [i + offset for i, b in enumerate(blocks) if b]
        shown = [b for b in blocks if b]
        rates = [b["success_rate"] for b in shown]
        left.bar(xs, rates, width, yerr=error_bars(shown), capsize=4, label=name)
    left.set_xticks(range(len(tasks)), tasks)
    left.set_ylim(0, 1.05)
    left.set_ylabel("success rate (95% Wilson CI)")
    left.set_title(f"{report['bundle_name']} on {report['robot']}")
    left.legend(loc="lower right")
    left.grid(True, axis="y", alpha=0.3)
    chains, links = report["chains"], report.get("chain_links")
    if chains or links:
        if chains:
            right.plot(range(1, chains["length"] + 1), chains["success_at"], marker="o", label="chains: in a row")
            right.set_title(f"chains: average {chains['average_completed']:.2f} of {chains['length']}")
        if links:
            rates = [math.nan if b["success_rate"] is None else b["success_rate"] for b in links.values()]
            right.plot([int(k) for k in links], rates, marker="s", label="each link alone (expert lead-in)")
        right.set_xticks(range(1, CHAIN_LENGTH + 1))
        right.set_ylim(0, 1.05)
        right.set_xlabel("chain link k")
        right.set_ylabel("share reaching link k / success at link k")
        right.legend(loc="lower left")
        right.grid(True, alpha=0.3)
    else:
        right.axis("off")
    _plot_failures(why, report)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _plot_failures(axes, report: dict) -> None:
    """One bar per task and phrasing split (and chain link): the share of its episodes lost to each reason."""
    blocks = _failure_rows(report)
    bars = [(name if split == 0 else f"{name} (held-out)", block)
            for name, pair in blocks.items() for split, block in enumerate(pair) if block]
    reasons = _reasons_seen(blocks)
    if not reasons:
        axes.axis("off")
        return
    colours = plt.get_cmap("tab10")
    left = [0.0] * len(bars)
    for i, reason in enumerate(reasons):
        shares = [block["failures"].get(reason, 0) / block["episodes"] if block["episodes"] else 0.0
                  for _, block in bars]
        axes.barh(range(len(bars)), shares, left=left, color=colours(i % 10), label=reason)
        left = [a + b for a, b in zip(left, shares)]
    axes.set_yticks(range(len(bars)), [name for name, _ in bars])
    axes.invert_yaxis()
    axes.set_xlim(0, max(0.05, *left) * 1.05)
    axes.set_xlabel("share of the episodes that failed, by reason")
    axes.set_title("why episodes failed")
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False)
    axes.grid(True, axis="x", alpha=0.3)


def _percent(block: dict) -> str:
    return "- (no episodes)" if block["success_rate"] is None else rate_text(block)


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _choice(choice: dict | None) -> str:
    if choice is None:
        return "- (no distractors)"
    if choice["rate"] is None:
        return f"- (nothing moved in {choice['no_choice']})"
    return f"{choice['rate']:.1%} of {choice['choices']} ({choice['no_choice']} moved nothing)"
