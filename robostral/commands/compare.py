"""`robostral compare`: is a new policy better than the one before, on the very same episodes?

Reads two `robostral eval` reports that ran the same seeds (same --seed, robot
and randomization) and pairs their episodes: per task and phrasing split, the
episodes only one side solved, with the exact McNemar p-value (a change counts
at p < 0.05); chains pair by seed, with a sign test on more or fewer links
completed. Nothing is rerun. Exit status: 0 compared, 2 the reports cannot be
paired (the reason is printed).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from robostral.evaluation.compare import compare_reports, read_report


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("compare", help="pair two evaluation reports episode by episode",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("baseline", type=Path, help="the report to compare against (report.json or its folder)")
    parser.add_argument("new", type=Path, help="the new report (report.json or its folder)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the comparison JSON here")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    comparison = compare_reports(read_report(args.baseline), read_report(args.new))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(comparison, indent=2) + "\n")
    _print(comparison)
    return 0


def _print(comparison: dict) -> None:
    for side in ("baseline", "new"):
        who = comparison[side]
        runtime = "int8" if who["int8"] else "fp32"
        print(f"{side + ':':<10}{who['path']} ({who['bundle_name']}, {runtime}, controller {who['controller']})")
    print(f"\n{'task':<14}{'phrasing':<10}{'pairs':>6}{'baseline':>10}{'new':>8}"
          f"{'only baseline':>15}{'only new':>10}{'p':>9}  verdict")
    rows = [(task, split, paired) for task, splits in comparison["tasks"].items() for split, paired in splits.items()]
    rows += [("all tasks", split, paired) for split, paired in comparison["pooled"].items()]
    rows += [(f"chain link {link}", "train", paired) for link, paired in comparison["chain_links"].items()]
    for task, split, paired in rows:
        print(f"{task:<14}{split:<10}{paired['pairs']:>6}{paired['baseline']['success_rate']:>10.1%}"
              f"{paired['new']['success_rate']:>8.1%}{paired['b']:>15}{paired['c']:>10}{paired['p']:>9.3g}"
              f"  {paired['verdict']}")
    changed = [(task, split, paired["failures"]) for task, splits in comparison["tasks"].items()
               for split, paired in splits.items() if paired["failures"]["baseline"] or paired["failures"]["new"]]
    if changed:
        print("\nwhy the paired episodes failed (baseline -> new):")
    for task, split, failures in changed:
        old, new = failures["baseline"], failures["new"]
        print(f"  {task} {split}: " + ", ".join(
            f"{reason} {old.get(reason, 0)} -> {new.get(reason, 0)}" for reason in dict.fromkeys([*old, *new])))
    chains = comparison["chains"]
    if chains:
        print(f"\nchains: {chains['pairs']} paired, {chains['baseline_average']:.2f} -> {chains['new_average']:.2f} "
              f"links completed on average; more links in {chains['more']}, fewer in {chains['fewer']}, "
              f"as many in {chains['same']} (sign test p = {chains['p']:.3g})")
