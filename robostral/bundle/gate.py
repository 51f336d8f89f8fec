"""The gate a bundle must pass before it is promoted into ``policies/``.

The gate lives in the card (``gate``: metric, minimum, minimum episodes) and is
judged against the card's ``evaluation`` (written by `robostral eval`): every
evaluated task must have at least ``min_episodes`` episodes and its metric
(by default the lower 95% Wilson bound of its success rate) at least ``min``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GateVerdict:
    passed: bool
    reasons: list[str]  # one line per task: why it passed or failed


def judge(card: dict) -> GateVerdict:
    """The verdict of the card's gate on the card's evaluation results."""
    gate, evaluation = card.get("gate"), card.get("evaluation")
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
        ok = value >= minimum and episodes >= min_episodes
        passed &= ok
        reasons.append(
            f"{task}: {metric} {value:.3f} {'>=' if value >= minimum else '<'} {minimum:.2f} over {episodes} episodes"
            + ("" if episodes >= min_episodes else f" (fewer than the {min_episodes} required)")
            + (" - pass" if ok else " - FAIL")
        )
    return GateVerdict(passed, reasons)
