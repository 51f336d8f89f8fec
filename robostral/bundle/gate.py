"""The gate a bundle must pass before it is promoted into ``policies/``.

The gate lives in the card (``gate``: name, metric, minimum, minimum episodes,
optionally a minimum mean over the tasks) and is judged against the card's
``evaluation`` (written by `robostral eval`): every evaluated task must have at
least ``min_episodes`` episodes and its metric at least ``min``, and the tasks'
mean metric at least ``mean_min`` where the gate has one.

Two gates are chosen from at export: ``production`` (what a cell may run
unattended: the lower 95% Wilson bound of every task's success at least 0.90)
and ``preview`` (a policy under development, shipped so that demos and the ROS 2
graph run a learned policy: it does every task sometimes, and a quarter of all
episodes on average). A bundle promoted under the preview gate says so wherever
it is listed or loaded.
"""

from __future__ import annotations

from dataclasses import dataclass

from robostral.bundle.card import Card

GATES: dict[str, dict] = {
    "production": {"name": "production", "metric": "ci_low", "min": 0.90, "min_episodes": 100},
    "preview": {"name": "preview", "metric": "success_rate", "min": 0.05, "mean_min": 0.25, "min_episodes": 100},
}


def at_least(value: float, floor: float) -> bool:
    """``value >= floor`` for rates that are fractions of episodes, free of float rounding.

    The mean of 99.5%, 88.5%, 97.0% and 75.0% is 90% of the episodes, yet sums to
    0.8999999999999999 in floats; no count of episodes is within 1e-9 of a floor it misses.
    """
    return value >= floor - 1e-9


@dataclass(frozen=True)
class GateVerdict:
    passed: bool
    reasons: list[str]  # one line per task: why it passed or failed


def judge(card: Card) -> GateVerdict:
    """The verdict of the card's gate on the card's evaluation results."""
    return judge_evaluation(card.gate, card.evaluation)


def judge_evaluation(gate: dict | None, evaluation: dict | None) -> GateVerdict:
    """The verdict of ``gate`` (a card's ``gate``) on ``evaluation`` (results shaped as a card's ``evaluation``)."""
    if not gate:
        return GateVerdict(False, ["the card has no gate"])
    if not evaluation or not evaluation.get("tasks"):
        return GateVerdict(False, ["the card has no evaluation results: run `robostral eval` first"])
    try:
        metric, minimum, min_episodes = gate["metric"], float(gate["min"]), int(gate["min_episodes"])
    except (KeyError, TypeError, ValueError):
        return GateVerdict(False, [f"the card's gate {gate!r} needs metric, min and min_episodes"])
    reasons, passed = [], True
    for task, result in sorted(evaluation["tasks"].items()):
        try:
            value, episodes = float(result[metric]), int(result["episodes"])
        except (KeyError, TypeError, ValueError):
            passed = False
            reasons.append(f"{task}: no {metric} and episodes in {result!r} - FAIL")
            continue
        met = at_least(value, minimum)
        ok = met and episodes >= min_episodes
        passed &= ok
        reasons.append(
            f"{task}: {metric} {value:.3f} {'>=' if met else '<'} {minimum:.2f} over {episodes} episodes"
            + ("" if episodes >= min_episodes else f" (fewer than the {min_episodes} required)")
            + (" - pass" if ok else " - FAIL")
        )
    if "mean_min" in gate:
        values = [float(r.get(metric, 0.0)) for r in evaluation["tasks"].values()]
        mean, floor = sum(values) / len(values), float(gate["mean_min"])
        ok = at_least(mean, floor)
        passed &= ok
        reasons.append(f"mean {metric} over the tasks {mean:.3f} {'>=' if ok else '<'} {floor:.2f}"
                       + (" - pass" if ok else " - FAIL"))
    return GateVerdict(passed, reasons)
