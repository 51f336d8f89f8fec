"""`robostral finetune`: demonstrations recorded on the cell -> a fine-tuned policy, promoted only if it is better.

The demonstrations are merged with episodes of the data the deployed bundle learned from, the
bundle is fine-tuned on them, the result exported, and both are evaluated in simulation on the same
tasks and seeds and compared (robostral/finetune.py). The candidate goes to policies/NAME only if
its gate passes and nothing got significantly worse; otherwise the deployed bundle stays as it is. With
--deploy, the running policy node is switched to it through its lifecycle (robostral/ros/deploy.py).
Every step is a `robostral` command in <out>/recipe.yaml: run the same command again after a stop
and it goes on. Exit status: 0 promoted, 1 not promoted (the reasons are printed) or a step failed,
2 bad arguments, 130 stopped.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from robostral.bundle.promote import POLICIES_DIR
from robostral.commands.arguments import given, positive_int
from robostral.commands.recipe import run_stages


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("finetune", help="fine-tune the deployed policy on demonstrations; promote it "
                                   "only if it is better", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--demonstrations", required=True, metavar="DATASET", help="the demonstrations' dataset")
    parser.add_argument("--deployed", required=True, metavar="BUNDLE", help="the bundle the cell runs now")
    parser.add_argument("--name", help="its folder under --policies-dir (default: the deployed bundle's)")
    parser.add_argument("--policies-dir", type=Path, default=POLICIES_DIR, help="default: %(default)s")
    parser.add_argument("--out", help="working folder (default: runs/finetune/NAME)")
    parser.add_argument("--original", metavar="DATASET",
                        help="the data the deployed bundle learned from (default: the dataset its card names)")
    parser.add_argument("--replay", type=float, help="original episodes merged in per demonstration (default 1)")
    parser.add_argument("--steps", type=positive_int, help="fine-tuning steps (default 2000)")
    parser.add_argument("--batch-size", type=positive_int)
    parser.add_argument("--lr", type=float, help="learning rate (default 1e-4)")
    parser.add_argument("--episodes", type=positive_int, help="evaluation episodes per task, each bundle (default 50)")
    parser.add_argument("--task", dest="tasks", action="append", metavar="T",
                        help="a task to evaluate (repeatable; default: those of the deployed bundle's evaluation)")
    parser.add_argument("--seed", type=int, help="draws the original episodes and the evaluation seeds (default 0)")
    parser.add_argument("--eval-option", dest="eval_options", action="append", metavar="OPT",
                        help="one more word for both `robostral eval` runs, e.g. --eval-option=--workers=1")
    parser.add_argument("--deploy", action="store_true",
                        help="switch the running policy node to the promoted bundle (robostral policies deploy)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from robostral.bundle.card import read_card
    from robostral.bundle.promote import PromotionRefused, promote
    from robostral.finetune import FinetuneConfig, plan, read_comparison, verdict

    options = given(args, "name", "out", "original", "replay", "steps", "batch_size", "lr", "episodes", "seed")
    config = FinetuneConfig(demonstrations=args.demonstrations, deployed=args.deployed, **options,
                            tasks=tuple(args.tasks or ()), eval_options=tuple(args.eval_options or ()))
    steps = plan(config)
    print(f"fine-tuning {args.deployed} on {args.demonstrations} with {steps.original_episodes} original episodes "
          f"(steps: {steps.out / 'recipe.yaml'})")
    log = run_stages(steps.recipe, str(steps.out / "recipe.yaml"), command="robostral finetune")
    if isinstance(log, int):
        return log
    decision = verdict(read_card(steps.candidate), read_comparison(steps.comparison))
    for reason in decision.reasons:
        print(f"  {reason}")
    if not decision.promote:
        print(f"not promoted: {args.deployed} stays deployed; the candidate is {steps.candidate}", file=sys.stderr)
        return 1
    try:
        target = promote(steps.candidate, steps.name, args.policies_dir, replace=True)
    except PromotionRefused as refusal:
        print(f"not promoted: {refusal}", file=sys.stderr)
        return 1
    print(f"promoted {steps.candidate} to {target}")
    if args.deploy:
        from robostral.ros.deploy import DeployError, deploy

        try:
            deploy(target)
        except DeployError as error:
            print(f"not deployed: {error}", file=sys.stderr)
            return 1
        print(f"deployed {target}")
    return 0
