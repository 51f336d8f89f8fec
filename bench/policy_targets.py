"""The shipped policy against the issue's targets, from the evaluation `robostral eval` wrote into its card.

The figures are the card's (rerun `robostral eval --policy BUNDLE --episodes 200` to refresh
them, then this script); training cost comes from the card too.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout, installed or not

from robostral.benchmarks.publish import update_section  # noqa: E402
from robostral.bundle.card import Card, read_card  # noqa: E402
from robostral.bundle.gate import at_least, judge  # noqa: E402

# The targets of the shipped default policy (issue: Robostral-S), each (what, value, goal, met).
PICK_PLACE, MEAN, HELDOUT, NAMED, CHAINS = 0.95, 0.90, 0.85, 0.95, 4.0


def targets(card: Card) -> list[tuple[str, str, str, bool]]:
    """Each target with the measured value, the goal and whether it is met."""
    evaluation = card.evaluation
    tasks = evaluation["tasks"]
    heldout = [t["heldout_success_rate"] for t in tasks.values() if t.get("heldout_success_rate") is not None]
    named = [t["distractor_choice_rate"] for t in tasks.values() if t.get("distractor_choice_rate") is not None]
    rows = [
        ("pick_place success", tasks["pick_place"]["success_rate"], PICK_PLACE),
        ("mean success over the tasks", evaluation["mean_success_rate"], MEAN),
        ("held-out phrasings (mean over the tasks)", sum(heldout) / len(heldout), HELDOUT),
        ("named object chosen first, with distractors (mean)", sum(named) / len(named), NAMED),
    ]
    out = [(what, f"{value:.1%}", f">= {goal:.0%}", at_least(value, goal)) for what, value, goal in rows]
    chains = evaluation.get("chains") or {}
    completed = chains.get("average_completed", 0.0)
    out.append(("chains of 5: average completed", f"{completed:.2f}", f">= {CHAINS:.1f}", at_least(completed, CHAINS)))
    return out


def body(card: Card, bundle: Path) -> str:
    evaluation, training = card.evaluation, card.training
    lines = [
        "### Robostral-S: the shipped policy against its targets",
        "",
        f"Bundle `{bundle}` ({card.trainable_parameters:,} trainable parameters), evaluated by "
        f"`{evaluation['command']}` ({evaluation['runtime']}, randomization on, seeds from {evaluation['seed']:,}).",
        "",
        "| task | success | 95% CI | episodes | mean length | held-out phrasings | named first |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: |",
    ]
    for task, t in sorted(evaluation["tasks"].items()):
        heldout = "-" if t["heldout_success_rate"] is None else f"{t['heldout_success_rate']:.1%}"
        named = "-" if t["distractor_choice_rate"] is None else f"{t['distractor_choice_rate']:.1%}"
        lines.append(f"| {task} | {t['success_rate']:.1%} | {t['ci_low']:.1%}-{t['ci_high']:.1%} | {t['episodes']} "
                     f"| {t['mean_length']:.1f} | {heldout} | {named} |")
    lines += ["", "| target | measured | goal | |", "| --- | ---: | ---: | --- |"]
    lines += [f"| {what} | {value} | {goal} | {'met' if met else '**NOT met**'} |"
              for what, value, goal, met in targets(card)]
    verdict = judge(card)
    lines += [
        "",
        f"- gate in the card: **{card.gate_name or 'production'}** ({'passed' if verdict.passed else 'FAILED'}); "
        "production would need the lower 95% bound of every task at least 0.90",
        f"- training: `{training.get('command') or '?'}`, {training['steps']:,} steps of batch "
        f"{training.get('batch_size', '?')} on {training.get('device', 'cpu')} in {training['wall_time_s'] / 60:.0f} "
        f"min ({training.get('samples_per_s', '?')} samples/s) on {training['dataset_frames']:,} frames of "
        f"{training['dataset_episodes']:,} episodes"
        + _prior_training(training.get("initialized_from"), training)
        + ("" if targets(card)[0][3] else "; the pick_place target was not reached in that time"),
    ]
    return "\n".join(lines)


def _prior_training(prior: dict | None, training: dict) -> str:
    """How the run was started from an earlier one (--init-from) and what all of it cost together."""
    if not prior:
        return ""
    steps, minutes = prior["steps"] + training["steps"], (prior["elapsed_s"] + training["wall_time_s"]) / 60
    source = prior.get("checkpoint") or prior["bundle"]  # --init-from a checkpoint folder or a bundle
    return (f", started from `{source}` ({prior['steps']:,} steps in {prior['elapsed_s'] / 60:.0f} min, "
            f"by `{prior.get('command') or '?'}`): {steps:,} steps in {minutes:.0f} min in all")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, default=Path("policies/robostral-s-panda"))
    parser.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone")
    args = parser.parse_args(argv)
    card = read_card(args.bundle)
    if not card.evaluation:
        print(f"{args.bundle}: no evaluation in the card; run `robostral eval --policy {args.bundle}` first",
              file=sys.stderr)
        return 2
    text = body(card, args.bundle)
    print(text)
    if not args.no_write:
        update_section("policy_targets", f".venv/bin/python bench/policy_targets.py --bundle {args.bundle}", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
