"""Run the scripted expert for whole episodes: the one loop behind `robostral sim`, the demo and the benches."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import gymnasium as gym
import numpy as np

import sim
from sim.experts import make_expert


@dataclass(frozen=True)
class EpisodeResult:
    task: str
    robot: str
    seed: int
    success: bool
    steps: int
    instruction: str

    def as_dict(self) -> dict:
        return asdict(self)


def make_env(task: str, robot: str, **config) -> gym.Env:
    """A registered env (time limit included) for a task name such as ``pick_place``."""
    if task not in sim.ENV_IDS:
        raise ValueError(f"unknown task {task!r}; known tasks: {', '.join(sorted(sim.ENV_IDS))}")
    return gym.make(sim.ENV_IDS[task], robot=robot, **config)


def run_expert_episode(env: gym.Env, seed: int, on_frame: Callable[[np.ndarray], None] | None = None) -> EpisodeResult:
    """One seeded episode of the expert; ``on_frame`` receives ``env.render()`` after reset and each step."""
    env.reset(seed=seed)
    expert = make_expert(env)
    expert.reset()
    if on_frame is not None:
        on_frame(env.render())
    steps, info, done = 0, {}, False
    while not done:
        _, _, terminated, truncated, info = env.step(expert.act())
        steps += 1
        done = terminated or truncated
        if on_frame is not None:
            on_frame(env.render())
    base = env.unwrapped
    return EpisodeResult(base.task.name, base.robot.name, seed, bool(info["is_success"]), steps, base.instruction)
