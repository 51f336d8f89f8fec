"""`robostral sim`: run the scripted expert on a task and robot, print the success rate."""

from __future__ import annotations

import argparse
import json

from tqdm import tqdm

from robostral.commands.arguments import ROBOT_HELP, positive_int, robot
from robostral.stats import wilson_interval
from robostral.video import video_path, write_video
from robots import DEFAULT_ROBOT
from sim.rollout import make_env, run_expert_episode
from sim.tasks import TASKS


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("sim", help="run the scripted expert in the simulator", description=__doc__)
    parser.add_argument("--task", required=True, choices=sorted(TASKS))
    parser.add_argument("--robot", default=DEFAULT_ROBOT, type=robot, help=ROBOT_HELP)
    parser.add_argument("--episodes", type=positive_int, default=10)
    parser.add_argument("--seed", type=int, default=0, help="seed of the first episode; episode i uses seed+i")
    parser.add_argument("--level", type=float, default=None, help="domain randomization level (default: config's)")
    parser.add_argument("--no-randomization", action="store_true", help="nominal scenes, no randomization")
    parser.add_argument("--video", metavar="PATH", type=_video, help="write the rollouts to an .mp4 or .gif")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    parser.set_defaults(run=run)


def _video(text: str):
    try:
        return video_path(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def run(args: argparse.Namespace) -> int:
    randomization: dict = {}
    if args.level is not None:
        randomization["level"] = args.level
    if args.no_randomization:
        randomization["enabled"] = False
    render = "rgb_array" if args.video else None
    env = make_env(args.task, args.robot, image_size=0, render_mode=render, randomization=randomization)
    frames: list = []
    results = []
    for i in tqdm(range(args.episodes), desc=f"{args.task}/{args.robot}", unit="ep", disable=args.json):
        results.append(run_expert_episode(env, args.seed + i, frames.append if args.video else None))
    env.close()
    successes = sum(r.success for r in results)
    low, high = wilson_interval(successes, len(results))
    summary = {
        "task": args.task,
        "robot": args.robot,
        "episodes": len(results),
        "successes": successes,
        "success_rate": successes / len(results),
        "ci_low": low,
        "ci_high": high,
        "mean_steps": sum(r.steps for r in results) / len(results),
        "seed": args.seed,
        "results": [r.as_dict() for r in results],
    }
    if args.video:
        summary["video"] = str(write_video(args.video, frames, fps=env.metadata["render_fps"]))
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(
            f"{args.task} on {args.robot}: {successes}/{len(results)} succeeded "
            f"({summary['success_rate']:.0%}, 95% CI {low:.0%}-{high:.0%}), mean {summary['mean_steps']:.0f} steps"
        )
        if args.video:
            print(f"video: {summary['video']}")
    return 0
