"""Shared fixtures for the simulator tests: real PyBullet envs, closed when the test ends."""

from __future__ import annotations

import dataclasses

import gymnasium
import numpy as np
import pytest

import sim
from sim.randomization import RandomizationConfig

ROBOT_NAMES = ("panda", "xarm6")

# Every range zero: the nominal scene, no latency, no action noise.
NOMINAL = RandomizationConfig(enabled=False)


def only(**ranges) -> RandomizationConfig:
    """A config (level 1) with every range zero except the ones given."""
    zero = {f.name: 0.0 for f in dataclasses.fields(RandomizationConfig) if f.name not in ("enabled", "level")}
    zero["action_latency"] = 0
    return RandomizationConfig(**{**zero, **ranges})


@pytest.fixture
def make_env():
    """``make_env(task, robot, **config)``: a registered env through ``gymnasium.make``.

    Cameras are off (``image_size=0``) unless the test asks for them: most tests
    need physics only, and rendering is what costs time.
    """
    envs = []

    def make(task: str = "reach", robot: str = "panda", **kwargs):
        kwargs.setdefault("image_size", 0)
        env = gymnasium.make(sim.ENV_IDS[task], robot=robot, **kwargs)
        envs.append(env)
        return env

    yield make
    for env in envs:
        env.close()


def hold(env) -> np.ndarray:
    """The action that keeps the arm and gripper where they are now."""
    return env.unwrapped.robot.joint_positions().astype(np.float32)


def teleport(env, name: str, position) -> None:
    """Put the named body at ``position`` (metres, world frame), upright and at rest."""
    client = env.unwrapped.sim.client
    client.resetBasePositionAndOrientation(env.unwrapped.sim.body(name), list(position), [0, 0, 0, 1])
    client.resetBaseVelocity(env.unwrapped.sim.body(name), [0, 0, 0], [0, 0, 0])
