"""`robostral recipe`: rebuild a policy from a fresh clone by the stages its recipe lists.

``run RECIPE`` runs, in order, the stages of ``recipes/<name>.yaml`` its log does not hold yet
(``runs/recipes/<name>/log.json``), each a ``robostral`` command as a child process; run it again
after a stop and it goes on where it was. ``--device cuda`` trains on a GPU (every ``train`` stage).
``show RECIPE`` lists the stages, which are done, and the wall and CPU time they took.
Exit status: 0 every stage done, 1 a stage failed (the stages before it stay done), 2 bad arguments,
130 stopped (Ctrl-C or SIGTERM).
"""

from __future__ import annotations

import argparse
import subprocess
import sys

from robostral.recipe import Recipe, load_recipe, pending, read_log, run_recipe, totals

INTERRUPTED = (130, -2, -15)  # a stage stopped by Ctrl-C or SIGTERM (its exit status, or the signal)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("recipe", help="rebuild a policy by its recipe's stages", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    run = actions.add_parser("run", help="run the stages not done yet, in order")
    run.add_argument("recipe", help="recipe file, e.g. recipes/robostral-s-panda.yaml")
    run.add_argument("--device", help="cpu, cuda or cuda:N, for every train stage (default: each stage's own)")
    run.set_defaults(run=run_command)
    show = actions.add_parser("show", help="the stages, which are done, and their time")
    show.add_argument("recipe", help="recipe file")
    show.set_defaults(run=show_command)


def run_stages(recipe: Recipe, source: str, device: str | None = None, command: str = "robostral recipe") -> dict | int:
    """Run ``recipe``'s pending stages: the log when every one is done, else the exit status (reason printed)."""
    try:
        return run_recipe(recipe, source, device)
    except subprocess.CalledProcessError as error:
        if error.returncode in INTERRUPTED:
            print(f"{command}: stopped; run the same command again to go on", file=sys.stderr)
            return 130
        print(f"{command}: a stage failed (exit {error.returncode}): {' '.join(error.cmd[3:])}; "
              "the stages before it stay done: fix it and run the same command again", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl-C reached this process too; the stage's own handling kept its work
        print(f"{command}: stopped; run the same command again to go on", file=sys.stderr)
        return 130


def run_command(args: argparse.Namespace) -> int:
    recipe = load_recipe(args.recipe)
    log = run_stages(recipe, args.recipe, args.device)
    if isinstance(log, int):
        return log
    spent = totals(log)
    print(f"{recipe.name}: all {len(recipe.stages)} stages done; {spent['wall_s']:.0f} s wall, "
          f"{spent['cpu_s']:.0f} s CPU in all (log: {recipe.log_path})")
    return 0


def show_command(args: argparse.Namespace) -> int:
    recipe = load_recipe(args.recipe)
    log = read_log(recipe.log_path)
    todo = {stage.name for stage in pending(recipe, log)}
    done = {stage["name"]: stage for stage in log["stages"]}
    print(f"{recipe.name}: {recipe.description}".rstrip(": "))
    for stage in recipe.stages:
        if stage.name in todo:
            status = "to run"
        else:
            status = f"done: {done[stage.name]['wall_s']:.0f} s wall, {done[stage.name]['cpu_s']:.0f} s CPU"
        print(f"  {stage.name:<16} {status:<40} robostral {stage.command}")
    spent = totals({"stages": [done[s.name] for s in recipe.stages if s.name not in todo]})
    print(f"done so far: {spent['wall_s']:.0f} s wall, {spent['cpu_s']:.0f} s CPU; log: {recipe.log_path}")
    return 0
