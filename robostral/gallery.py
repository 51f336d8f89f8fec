"""`python -m robostral.gallery`: each task's scripted expert on each robot, one randomized episode each.

Prints a success table and writes a mosaic video of all rollouts to
``runs/gallery/experts.mp4`` (and its last frame as a PNG, copied to docs/experts.png).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import imageio.v3 as iio
from tqdm import tqdm

from robostral.video import label, mosaic, write_video
from robots import robot_names
from sim.rollout import make_env, run_expert_episode
from sim.tasks import TASKS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/gallery", help="output folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", type=int, default=256, help="video frame size in pixels")
    args = parser.parse_args(argv)

    # Each task gets its own seed (so the scenes differ), shared by every arm (so they compare).
    runs = [(task, robot, args.seed + i) for robot in robot_names() for i, task in enumerate(TASKS)]
    clips, rows = [], []
    for task, robot, seed in tqdm(runs, desc="expert episodes", unit="ep"):
        env = make_env(task, robot, image_size=0, render_mode="rgb_array", render_size=args.size)
        frames: list = []
        result = run_expert_episode(env, seed, frames.append)
        env.close()
        verdict = "success" if result.success else "FAILED"
        clips.append([label(f, f"{robot} | {task} | {verdict}") for f in frames])
        rows.append((task, robot, result))

    print(f"\n{'task':<12}{'robot':<8}{'result':<9}{'steps':>6}  instruction")
    for task, robot, r in rows:
        print(f"{task:<12}{robot:<8}{'success' if r.success else 'FAILED':<9}{r.steps:>6}  {r.instruction}")
    out = Path(args.out)
    video = write_video(out / "experts.mp4", mosaic(clips, columns=len(TASKS)), fps=20)
    poster = out / "experts.png"
    iio.imwrite(poster, mosaic([[c[-1]] for c in clips], columns=len(TASKS))[0])
    successes = sum(r.success for _, _, r in rows)
    print(f"\n{successes}/{len(rows)} episodes succeeded; video {video}, poster {poster}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
