"""Scripted expert success: seeded episodes per task and robot, domain randomization on at its default level.

Each episode is ``sim.rollout.run_expert_episode`` on the registered env (time limit
included, camera off). Episodes run in parallel over worker processes, a chunk of
seeds per job so that each worker builds an env once per chunk. The table gives
the success rate with its 95% Wilson interval and the mean episode length in
control steps (20 Hz); the goal is >= 98% for every task and robot.

    .venv/bin/python bench/expert_success.py [--episodes 200] [--tasks reach,push] [--robots xarm6] [--seed 0]
"""

from __future__ import annotations

import argparse
import os
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout, installed or not

from robostral.benchmarks.publish import update_section, verdict  # noqa: E402
from robostral.stats import wilson_interval  # noqa: E402
from robots import robot_names  # noqa: E402
from sim.rollout import EpisodeResult, make_env, run_expert_episode  # noqa: E402
from sim.tasks import TASKS  # noqa: E402

GOAL = 0.98  # success rate every task x robot must reach
CHUNK = 10  # episodes per job
COMMAND = ".venv/bin/python bench/expert_success.py"


def run_chunk(task: str, robot: str, seeds: list[int]) -> list[EpisodeResult]:
    """Expert episodes for ``seeds`` on one env (camera off, default randomization)."""
    env = make_env(task, robot, image_size=0)
    try:
        return [run_expert_episode(env, seed) for seed in seeds]
    finally:
        env.close()


def run_all(tasks: list[str], robots: list[str], seeds: list[int], workers: int) -> list[EpisodeResult]:
    jobs = [
        (task, robot, seeds[i : i + CHUNK]) for task in tasks for robot in robots for i in range(0, len(seeds), CHUNK)
    ]
    results: list[EpisodeResult] = []
    with ProcessPoolExecutor(max_workers=workers) as pool, tqdm(total=len(tasks) * len(robots) * len(seeds)) as bar:
        futures = [pool.submit(run_chunk, *job) for job in jobs]
        for future in as_completed(futures):
            chunk = future.result()
            results.extend(chunk)
            bar.update(len(chunk))
    return results


def table(results: list[EpisodeResult], tasks: list[str], robots: list[str]) -> str:
    rows = [
        "| task | robot | successes | success rate | 95% Wilson interval | mean length (steps) | goal |",
        "| --- | --- | ---: | ---: | --- | ---: | --- |",
    ]
    failures = []
    for task in tasks:
        for robot in robots:
            runs = sorted((r for r in results if r.task == task and r.robot == robot), key=lambda r: r.seed)
            wins = sum(r.success for r in runs)
            low, high = wilson_interval(wins, len(runs))
            mean_steps = sum(r.steps for r in runs) / len(runs)
            met = verdict(wins >= GOAL * len(runs))
            rows.append(
                f"| {task} | {robot} | {wins}/{len(runs)} | {wins / len(runs):.1%} | "
                f"{low:.1%} - {high:.1%} | {mean_steps:.1f} | {met} |"
            )
            failed = [str(r.seed) for r in runs if not r.success]
            if failed:
                failures.append(f"{task}/{robot}: {', '.join(failed)}")
    text = "\n".join(rows) + f"\n\nGoal: success rate >= {GOAL:.0%} for every task and robot.\n"
    return text + ("\nFailed seeds: " + "; ".join(failures) + "\n" if failures else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--episodes", type=int, default=200, help="episodes per task and robot")
    parser.add_argument("--tasks", default=",".join(TASKS), help="comma-separated task names")
    parser.add_argument("--robots", default=",".join(robot_names()), help="comma-separated robot names")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first episode; episodes use seed, seed+1...")
    parser.add_argument("--workers", type=int, default=os.cpu_count(), help="worker processes")
    parser.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone")
    args = parser.parse_args(argv)
    tasks, robots = args.tasks.split(","), args.robots.split(",")
    for name, known in [(t, TASKS) for t in tasks] + [(r, robot_names()) for r in robots]:
        if name not in known:
            parser.error(f"unknown name {name!r}; known: {', '.join(known)}")
    if args.episodes <= 0:
        parser.error(f"--episodes must be positive, got {args.episodes}")

    seeds = list(range(args.seed, args.seed + args.episodes))
    results = run_all(tasks, robots, seeds, args.workers)
    body = table(results, tasks, robots)
    print(body, flush=True)

    if not args.no_write:
        command = " ".join([COMMAND, *(argv if argv is not None else sys.argv[1:])])
        heading = (
            f"### Scripted expert success\n\nSeeds {seeds[0]}..{seeds[-1]} per task and robot, "
            "domain randomization on (default level 1.0), registered time limits.\n\n"
        )
        update_section("expert_success", command, heading + body)
        print("wrote BENCHMARKS.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
