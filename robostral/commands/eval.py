"""`robostral eval`: run a policy bundle with ONNX Runtime on seeded, randomized episodes and report.

Per task: success rate with a 95% Wilson interval, mean episode length, success
on held-out instruction phrasings and, where the scene has distractors, how often
the named object is the first one moved; plus CALVIN-style chains of 5
instructions (with pick_place) and, with --chain-links, each link of a chain
alone after the expert completed the ones before it. Writes report.json, report.md, success.png and
videos under --out, records the summary in the bundle's card and prints the
gate verdict. Seeds start far above dataset collection seeds (see --seed).
"""

from __future__ import annotations

import argparse
import json
import shlex
from pathlib import Path

from robostral.commands.arguments import ROBOT_HELP, positive_int, robot
from robostral.evaluation.evaluate import EvalConfig, evaluate, record_in_card
from robostral.evaluation.outcome import describe_failures
from robostral.evaluation.supervised import CONTROLLERS
from sim.tasks import TASKS
from sim.tasks.chain import CHAIN_LENGTH


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("eval", help="evaluate a policy bundle in the simulator", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--policy", required=True, type=Path, metavar="BUNDLE", help="policy bundle directory")
    parser.add_argument("--task", dest="tasks", action="extend", type=_tasks, metavar="T",
                        help=f"task to evaluate, repeatable or comma-separated (default: all of {','.join(TASKS)})")
    parser.add_argument("--robot", type=robot, help=f"{ROBOT_HELP}; default: the robot in the bundle's card")
    parser.add_argument("--episodes", type=positive_int, default=EvalConfig.episodes, metavar="N",
                        help="episodes per task with training phrasings (default %(default)s)")
    parser.add_argument("--heldout-episodes", type=_non_negative, metavar="N",
                        help="episodes per task with held-out phrasings, on the same seeds (default: --episodes)")
    parser.add_argument("--chains", type=_non_negative, metavar="N",
                        help=f"chains of {CHAIN_LENGTH} instructions, run with pick_place "
                             "(default: episodes/4, at least 1)")
    parser.add_argument("--chain-links", type=_non_negative, default=EvalConfig.chain_links, metavar="N",
                        help=f"episodes per link of a chain (1 to {CHAIN_LENGTH}) in which the scripted expert "
                             "completes the links before it and the policy does that link: where chains break "
                             "(default %(default)s: none)")
    parser.add_argument("--seed", type=_non_negative, default=EvalConfig.seed, metavar="S",
                        help=f"seed of episode 0; episode i uses seed+i (default {EvalConfig.seed:,})")
    parser.add_argument("--batch-size", type=positive_int, default=EvalConfig.batch_size, metavar="B",
                        help="envs stepped together, one batched runtime call per step (default %(default)s)")
    parser.add_argument("--workers", type=positive_int, default=EvalConfig.workers, metavar="W",
                        help="processes, each with its own runtime (default %(default)s)")
    parser.add_argument("--int8", action="store_true",
                        help="run the int8 variant the card vouches for (refused where it vouches for none)")
    parser.add_argument("--controller", choices=CONTROLLERS, default=EvalConfig.controller,
                        help="how each step's targets reach the arm: direct (the simulator's position target, as in "
                             "training), or through the safety supervisor's checks and a controller, as on a cell: "
                             "linear (positions only, interpolated linearly) or smooth (its jerk-limited plans); "
                             "default: %(default)s")
    parser.add_argument("--videos", type=_non_negative, default=EvalConfig.videos, metavar="N",
                        help="episodes per task filmed into one video, plus one chain (default %(default)s; 0: none)")
    parser.add_argument("--out", type=Path, metavar="DIR", help="report folder (default: runs/eval/<bundle name>)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the report JSON here")
    parser.add_argument("--no-write-card", action="store_true", help="leave the bundle's card unchanged")
    parser.set_defaults(run=run)


def _tasks(text: str) -> list[str]:
    names = [t.strip() for t in text.split(",") if t.strip()]
    unknown = [t for t in names if t not in TASKS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown task(s) {','.join(unknown) or repr(text)}; known: {','.join(TASKS)}")
    return names


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text}")
    return value


def run(args: argparse.Namespace) -> int:
    config = EvalConfig(
        bundle=args.policy, tasks=tuple(dict.fromkeys(args.tasks or TASKS)), robot=args.robot,
        episodes=args.episodes, heldout_episodes=args.heldout_episodes, chains=args.chains,
        chain_links=args.chain_links, seed=args.seed,
        batch_size=args.batch_size, workers=args.workers, int8=args.int8, controller=args.controller,
        videos=args.videos, out=args.out,
        command=_command(args),
    )
    report = evaluate(config)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    _print_summary(report)
    if args.no_write_card:
        print("card left unchanged (--no-write-card)")
    elif args.controller != "direct":
        print(f"card left unchanged: its evaluation is the direct controller's, this ran {args.controller}")
    else:
        stale = record_in_card(args.policy, report)
        print(f"evaluation written to {args.policy / 'card.yaml'}")
        if stale:
            print("note: the card changed, so its signature (card.sig) no longer matches: sign the bundle again")
    gate = report["gate"]
    print(f"gate: {'PASS' if gate['passed'] else 'FAIL'}")
    for reason in gate["reasons"]:
        print(f"  {reason}")
    return 0


def _command(args: argparse.Namespace) -> str:
    """The command line that repeats this run, every option spelled out."""
    parts = ["robostral", "eval"]
    for key, value in vars(args).items():
        if key in ("run", "command") or value is None or value is False:
            continue
        flag = "--" + ("task" if key == "tasks" else key.replace("_", "-"))
        parts += [flag] if value is True else [flag, ",".join(value) if isinstance(value, list) else str(value)]
    return shlex.join(parts)


def _print_summary(report: dict) -> None:
    print(f"\n{'task':<12}{'success (95% CI)':<24}{'len':>6}  {'held-out phrasing':<19}named first")
    for task, t in report["tasks"].items():
        held, choice = t["heldout"], t["distractor"]
        print(
            f"{task:<12}{t['success_rate']:>6.1%} ({t['ci_low']:.1%}-{t['ci_high']:.1%})  "
            f"{t['mean_length']:>6.1f}  {format(held['success_rate'], '.1%') if held else '-':<19}"
            f"{format(choice['rate'], '.1%') if choice and choice['rate'] is not None else '-'}"
        )
    if report["chains"]:
        chains = report["chains"]
        print(f"chains: {chains['average_completed']:.2f} of {chains['length']} completed on average "
              f"({chains['episodes']} chains)")
    if report["chain_links"]:
        rates = ", ".join(f"{link}: {'-' if b['success_rate'] is None else format(b['success_rate'], '.0%')}"
                          for link, b in report["chain_links"].items())
        print(f"chain links alone (expert lead-in): {rates}")
    reasons = {task: t["failures"] for task, t in report["tasks"].items() if t["failures"]}
    if reasons:
        print("why episodes failed (train phrasings): "
              + "; ".join(f"{task}: {describe_failures(counts)}" for task, counts in reasons.items()))
    print(f"report: {Path(report['out']) / 'report.md'} ({report['wall_time_s']:.0f} s)")
