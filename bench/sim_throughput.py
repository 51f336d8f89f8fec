"""Simulator throughput: robostral against panda-gym without a camera, and camera frames/s per process.

(a) env steps/s without a camera: ``robostral/PickPlace-v0`` on each shipped arm against panda-gym's
``PandaPickAndPlace-v3``, all at 20 Hz control. Each keeps its own physics step: ours
240 Hz (12 substeps), panda-gym 500 Hz with ``n_substeps`` raised from its default 20
(25 Hz control) to 25.
(b) env steps/s with the 96x96 front camera, in one process and in an async vector env
of 2, for each shipped arm; a step renders one frame in each process.

Actions are random within each action space (seeded), the same count for every contender,
and timed after an untimed reset. Rounds are interleaved (A, B, A, B...) so that a noisy
machine slows every contender alike; figures are medians over rounds.

    .venv/bin/python bench/sim_throughput.py [--quick] [--no-write]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import gymnasium as gym

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout, installed or not

import sim.envs  # noqa: E402,F401  (registers robostral/*)
from robostral.benchmarks.publish import update_section, verdict  # noqa: E402
from robostral.markdown import table  # noqa: E402
from robots import robot_names  # noqa: E402

COMMAND = ".venv/bin/python bench/sim_throughput.py"
CONTROL_HZ = 20
OUR_PHYSICS_HZ = 240
PANDA_GYM_SUBSTEPS = 25  # panda-gym steps physics at 500 Hz: 25 substeps make 20 Hz control
IMAGE_SIZE = 96
RATIO_GOAL = 1.0  # ours / panda-gym, steps/s without a camera
CAMERA_GOAL_FPS = 200  # rendered frames/s per process
Env = gym.Env | gym.vector.VectorEnv


@dataclass
class Contender:
    """One env (or vector env) under test; ``rates`` holds its steps/s, one per round."""

    name: str
    make: Callable[[int], Env]  # max_episode_steps -> env
    processes: int = 1
    rates: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.rates)

    def cells(self) -> list[str]:
        return [f"{self.median:.0f}", f"{min(self.rates):.0f} - {max(self.rates):.0f}"]


@contextmanager
def quiet_stdout() -> Iterator[None]:
    """Keep pybullet's C-level connect banner (panda-gym passes it options) off stdout."""
    sys.stdout.flush()
    saved = os.dup(1)
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 1)
        try:
            yield
        finally:
            os.dup2(saved, 1)
            os.close(saved)


def panda_gym_env(max_steps: int) -> gym.Env:
    import panda_gym  # noqa: F401  (registers Panda*-v3; a benchmark-only dependency)

    with quiet_stdout():
        env = gym.make("PandaPickAndPlace-v3", max_episode_steps=max_steps)
    env.unwrapped.sim.n_substeps = PANDA_GYM_SUBSTEPS
    assert round(1 / env.unwrapped.sim.dt) == CONTROL_HZ
    return env


def our_env(robot: str, image_size: int, num_envs: int = 1) -> Callable[[int], Env]:
    kwargs = {"robot": robot, "image_size": image_size, "control_hz": CONTROL_HZ, "physics_hz": OUR_PHYSICS_HZ}
    if num_envs == 1:
        return lambda max_steps: gym.make("robostral/PickPlace-v0", max_episode_steps=max_steps, **kwargs)
    return lambda max_steps: gym.make_vec(
        "robostral/PickPlace-v0", num_envs, vectorization_mode="async", max_episode_steps=max_steps, **kwargs
    )


def steps_per_second(env: Env, steps: int, seed: int) -> float:
    """Time ``steps`` random actions; a reset after a (rare) success is timed with them."""
    env.action_space.seed(seed)
    actions = [env.action_space.sample() for _ in range(steps)]
    env.reset(seed=seed)
    vector = isinstance(env, gym.vector.VectorEnv)  # resets itself
    start = time.perf_counter()
    for action in actions:
        _, _, terminated, truncated, _ = env.step(action)
        if not vector and (terminated or truncated):
            env.reset()
    return steps / (time.perf_counter() - start)


def run_rounds(contenders: list[Contender], steps: int, rounds: int) -> None:
    """Build every env once, warm it up, then time the contenders in turn, round after round."""
    envs = [c.make(steps + 1) for c in contenders]  # no time limit inside a round
    try:
        for env in envs:
            steps_per_second(env, min(steps, 20), seed=0)
        for r in range(rounds):
            for contender, env in zip(contenders, envs):
                contender.rates.append(steps_per_second(env, steps, seed=r + 1))
    finally:
        for env in envs:
            env.close()


def physics_section(ours: list[Contender], theirs: Contender, steps: int, rounds: int) -> str:
    physics = [f"{OUR_PHYSICS_HZ} Hz x {OUR_PHYSICS_HZ // CONTROL_HZ}"] * len(ours) + [f"500 Hz x {PANDA_GYM_SUBSTEPS}"]
    rows = [[c.name, f"{CONTROL_HZ} Hz", p, *c.cells()] for c, p in zip((*ours, theirs), physics)]
    contenders = table(["contender", "control", "physics x substeps", "steps/s (median)", "min - max"], rows)
    ratios = []
    for contender in ours:
        ratio = statistics.median(a / b for a, b in zip(contender.rates, theirs.rates))  # paired by round
        ratios.append(f"{contender.name} / panda-gym: **{ratio:.2f}x**; goal >= {RATIO_GOAL:.1f}x: "
                      f"**{verdict(ratio >= RATIO_GOAL)}**")
    return (
        f"**(a) Env steps per second, no camera**: {steps} random actions x {rounds} interleaved rounds. "
        f"Same control rate: panda-gym's `n_substeps` raised from 20 (25 Hz) to {PANDA_GYM_SUBSTEPS}; "
        "its reward and goal bookkeeping are part of its step.\n\n"
        f"{contenders}\n\n"
        "Ratios are medians of per-round ratios:\n\n" + "\n".join(f"- {line}" for line in ratios) + "\n"
    )


def camera_section(pairs: list[tuple[Contender, Contender]], steps: int, rounds: int) -> str:
    """``pairs``: (one process, vector env) per robot; the vector env's total is compared with one process."""
    rows = []
    for single, vector in pairs:
        for c in (single, vector):
            total = c.median * c.processes  # one frame per process per step
            goal = verdict(c.median >= CAMERA_GOAL_FPS)
            rows.append([c.name, str(c.processes), *c.cells(), f"{total:.0f}", f"{total / single.median:.2f}x", goal])
    header = ["contender", "processes", "frames/s per process", "min - max", "frames/s total", "total vs 1 process"]
    return (
        f"**(b) Env steps with the {IMAGE_SIZE}x{IMAGE_SIZE} front camera** (TinyRenderer), {CONTROL_HZ} Hz control: "
        f"{steps} random actions x {rounds} interleaved rounds; goal >= {CAMERA_GOAL_FPS} frames/s per process.\n\n"
        f"{table([*header, 'goal'], rows)}\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run (rough figures)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone")
    args = parser.parse_args(argv)
    steps, rounds = (30, 2) if args.quick else (400, 7)
    camera_steps, camera_rounds = (30, 2) if args.quick else (320, 5)

    ours = [Contender(f"robostral/PickPlace-v0 ({robot})", our_env(robot, image_size=0)) for robot in robot_names()]
    theirs = Contender("panda-gym PandaPickAndPlace-v3", panda_gym_env)
    run_rounds([*ours, theirs], steps, rounds)
    physics = physics_section(ours, theirs, steps, rounds)
    print(physics, flush=True)

    pairs = [
        (
            Contender(f"robostral/PickPlace-v0 ({robot})", our_env(robot, IMAGE_SIZE)),
            Contender(f"robostral/PickPlace-v0 ({robot}), async x2", our_env(robot, IMAGE_SIZE, 2), processes=2),
        )
        for robot in robot_names()
    ]
    run_rounds([c for pair in pairs for c in pair], camera_steps, camera_rounds)
    camera = camera_section(pairs, camera_steps, camera_rounds)
    print(camera, flush=True)

    if not args.no_write:
        command = COMMAND + (" --quick" if args.quick else "")
        update_section("sim_throughput", command, f"### Simulator throughput\n\n{physics}\n{camera}")
        print("wrote BENCHMARKS.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
