"""The safety supervisor's work per command: checking a policy's chunk and planning its jerk-limited motion.

For each shipped arm, a policy-like stream (a fresh 10-point chunk every 50 ms, two joints swaying with a
little noise, each chunk from where the controller is) goes through what the supervisor runs per command
outside its lock, on one thread: ``check_trajectory`` (limits, workspace box, re-timing) and
``smooth_motion`` (the Ruckig plan, sampled, every sample checked again). The table gives the median,
95th and 99th percentiles over every command, and the samples each sends. Goal: p50 under 10 ms per
command, a fifth of the 50 ms control period.

    .venv/bin/python bench/motion_plan.py [--quick] [--no-write]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout, installed or not

from robostral.benchmarks.publish import update_section, verdict  # noqa: E402
from robostral.markdown import table  # noqa: E402
from robostral.safety import (  # noqa: E402
    Accepted,
    CommandedMotion,
    SafetyConfig,
    Trajectory,
    TrajectoryPoint,
    check_trajectory,
    smooth_motion,
)
from robots import robot_names  # noqa: E402

COMMAND = ".venv/bin/python bench/motion_plan.py"
PERIOD = 0.05  # s between commands: the policy's 20 Hz
CHUNK = 10  # points a command
GOAL_MS = 10.0


def plan_stream(robot: str, commands: int, seed: int = 0) -> tuple[list[float], list[int]]:
    """Seconds per command and samples sent per command, over ``commands`` commands of a policy-like stream."""
    config = SafetyConfig(robot=robot)
    limits = config.joint_limits()
    checks = dict(limits=limits, kinematics=config.description.tool_kinematics(), config=config)
    home = config.description.home_positions
    rng = np.random.default_rng(seed)
    motion = CommandedMotion(limits.names)
    seconds, samples = [], []
    for step in range(commands):
        now = step * PERIOD
        ahead = now + PERIOD * np.arange(1, CHUNK + 1)
        targets = np.tile(home, (CHUNK, 1))
        targets[:, 0] += 0.3 * np.sin(1.5 * ahead)
        targets[:, 1] += 0.1 * np.sin(2.0 * ahead) + 0.003 * rng.standard_normal(CHUNK)
        trajectory = Trajectory(limits.names, [TrajectoryPoint(tuple(q), PERIOD * (k + 1))
                                               for k, q in enumerate(targets)])
        start_state = motion.at(now, fallback=home)
        began = time.perf_counter()
        verdict_ = check_trajectory(trajectory, start_state.positions, start_state.velocities, **checks)
        if isinstance(verdict_, Accepted):
            verdict_ = smooth_motion(verdict_, start_state, **checks)
        seconds.append(time.perf_counter() - began)
        if not isinstance(verdict_, Accepted):
            raise SystemExit(f"{robot}: command {step} rejected: {verdict_.reason}")
        points = verdict_.trajectory.points
        samples.append(len(points))
        motion.follow(limits.names, np.array([p.positions for p in points]), [p.time_from_start for p in points],
                      now, start=home, velocities=np.array([p.velocities for p in points]),
                      accelerations=np.array([p.accelerations for p in points]))
    return seconds, samples


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run (rough figures)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone")
    args = parser.parse_args(argv)
    commands = 40 if args.quick else 400
    rows = []
    for robot in robot_names():
        plan_stream(robot, 5)  # warm up: imports, caches
        seconds, samples = plan_stream(robot, commands)
        p50, p95, p99 = (1000 * np.percentile(seconds, q) for q in (50, 95, 99))
        rows.append([robot, f"{p50:.2f}", f"{p95:.2f}", f"{p99:.2f}", f"{np.median(samples):.0f}",
                     verdict(p50 < GOAL_MS)])
    body = (f"### Motion planning per command\n\nThe safety supervisor's work per policy command on one thread: "
            f"`check_trajectory` then `smooth_motion` (the jerk-limited plan, sampled, every sample checked), over "
            f"a stream of {commands} {CHUNK}-point chunks, one every {PERIOD * 1000:.0f} ms. Goal: p50 under "
            f"{GOAL_MS:g} ms per command.\n\n"
            f"{table(['arm', 'p50 (ms)', 'p95 (ms)', 'p99 (ms)', 'samples sent (median)', 'goal'], rows)}\n")
    print(body, flush=True)
    if not args.no_write:
        update_section("motion_plan", COMMAND + (" --quick" if args.quick else ""), body)
        print("wrote BENCHMARKS.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
