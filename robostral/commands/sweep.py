"""`robostral sweep`: run policy bundles over randomization x robots x tasks x seeds on Ray, then report.

    robostral sweep SWEEP.yaml [--address ADDR] [--out DIR]   run (or resume) a sweep
    robostral sweep report DIR                                 (re)write the report of a sweep folder

Each cell (one policy, robot, task, randomization point and seed) is a Ray task
with one CPU. Without --address (or RAY_ADDRESS) a single-node Ray is started on
loopback for the sweep; with it, the sweep runs on that cluster (see README:
"Sweeps on a Ray cluster"). Finished cells are stored in DIR/cells as Parquet;
running the same command again skips them. The report (report.md, report.html,
figures) is written into DIR at the end.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from robostral.commands.arguments import given, positive_int

REPORT = "report"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("sweep", help="validate policies over randomization, robots, tasks and seeds",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                   usage="robostral sweep SWEEP.yaml [options] | robostral sweep report DIR")
    parser.add_argument("target", metavar="SWEEP.yaml", help="the sweep file, or the word 'report'")
    parser.add_argument("folder", nargs="?", type=Path, metavar="DIR", help="with 'report': the sweep folder")
    # No defaults here: SweepOptions' apply (robostral.sweep is imported only when a sweep runs).
    parser.add_argument("--address", metavar="ADDR",
                        help="Ray cluster to run on, e.g. 127.0.0.1:6379 (default: RAY_ADDRESS, else a local Ray)")
    parser.add_argument("--out", type=Path, metavar="DIR", help="output folder (default: runs/sweeps/<name>)")
    parser.add_argument("--workers", type=positive_int, metavar="N",
                        help="CPUs of the local Ray, so cells at once (default: every core; ignored with --address)")
    parser.add_argument("--gpus-per-task", type=_fraction, metavar="G",
                        help="GPUs each cell asks Ray for; > 0 runs the policy with ONNX Runtime's CUDA provider "
                             "(needs onnxruntime-gpu on the workers)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(run=run)


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text}")
    return value


def run(args: argparse.Namespace) -> int:
    if args.target == REPORT:
        if args.folder is None:
            raise ValueError("give the sweep folder: robostral sweep report DIR")
        from robostral.sweep.report import write_report

        print(f"report: {write_report(args.folder)}")
        return 0
    if args.folder is not None:
        raise ValueError(f"unexpected argument {args.folder}: did you mean --out {args.folder}?")
    from robostral.sweep.engine import SweepOptions, run_sweep
    from robostral.sweep.spec import load_sweep

    sweep = load_sweep(args.target)  # every check before any work starts
    out = args.out or Path("runs/sweeps") / sweep.name
    options = SweepOptions(out, progress=not args.no_progress, **given(args, "address", "workers", "gpus_per_task"))
    try:
        outcome = run_sweep(sweep, options)
    except KeyboardInterrupt:
        from robostral.sweep.store import done_keys

        print(f"\ninterrupted: {len(done_keys(out))} cells stored in {out}; run the same command again to resume",
              file=sys.stderr)
        return 130
    print(f"ran {outcome.ran} cells ({outcome.episodes} episodes) in {outcome.wall_s:.1f} s, "
          f"{outcome.episodes_per_s:.2f} episodes/s; {outcome.skipped} were already done")
    if outcome.report:
        print(f"report: {outcome.report}")
    if outcome.failed:
        print(f"{len(outcome.failed)} cells failed and were not stored; run the same command again to retry them",
              file=sys.stderr)
        return 1
    return 0
