"""Run the scripted expert for whole episodes: the one loop behind `robostral sim`, `collect`, the demo and benches."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Protocol

import gymnasium as gym
import numpy as np

from sim.envs import ENV_IDS
from sim.experts import make_expert
from sim.tasks.chain import LINK_STEPS, ChainScene, links_before, next_link


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


class Driver(Protocol):
    """Who moves the arm in place of the expert (DAgger: a policy), from what it observes."""

    def reset(self) -> None: ...

    def act(self, observation: dict) -> np.ndarray: ...


@dataclass(frozen=True)
class RecordedEpisode:
    """An expert-labelled episode step by step: ``actions[i]`` is the expert's choice at ``observations[i]``.

    The observation after the last action is not kept, so both lists have ``result.steps`` entries.
    """

    result: EpisodeResult
    observations: list[dict]
    actions: list[np.ndarray]  # joint targets, joint units (rad, or m for prismatic joints)
    randomization: dict  # this episode's randomized values, as in ``info["randomization"]``


def make_env(task: str, robot: str, **config) -> gym.Env:
    """A registered env (time limit included) for a task name such as ``pick_place``, or ``chain``."""
    if task not in ENV_IDS:
        raise ValueError(f"unknown task {task!r}; known tasks: {', '.join(sorted(ENV_IDS))}")
    return gym.make(ENV_IDS[task], robot=robot, **config)


def run_expert_episode(env: gym.Env, seed: int, on_frame: Callable[[np.ndarray], None] | None = None) -> EpisodeResult:
    """One seeded episode of the expert; ``on_frame`` receives ``env.render()`` after reset and each step."""
    return _expert_loop(env, seed, on_frame=on_frame)[0]


class Perturbation:
    """Bursts of noise on the executed arm targets, so demonstrations show how to recover (DART, Laskey 2017).

    The expert keeps planning from the true state, so the action recorded at a perturbed
    state steers back to its path: the labels a policy needs once its own errors push it
    off the demonstrated states. ``std`` is in joint units; the gripper is never perturbed.
    """

    START = 0.15  # chance per control step that a burst starts
    STEPS = (2, 6)  # a burst lasts this many control steps (inclusive)

    def __init__(self, std: float, arm_joints: int, seed: int) -> None:
        self.std = std
        self.arm_joints = arm_joints
        self.rng = np.random.default_rng([seed, 0xDA27])  # its own stream: the scene draws are untouched
        self.offset = np.zeros(arm_joints + 1)
        self.left = 0

    def apply(self, action: np.ndarray) -> np.ndarray:
        """The target to execute in place of ``action``."""
        if self.left == 0 and self.rng.random() < self.START:
            self.left = int(self.rng.integers(self.STEPS[0], self.STEPS[1] + 1))
            self.offset[: self.arm_joints] = self.rng.normal(0.0, self.std, self.arm_joints)
        if self.left == 0:
            return action
        self.left -= 1
        return action + self.offset


def record_expert_episode(
    env: gym.Env, seed: int, perturbation: float = 0.0, settle_steps: int = 0, driver: Driver | None = None
) -> RecordedEpisode:
    """One seeded episode with every observation and the expert's action at it.

    With ``perturbation`` > 0 (joint units) the executed targets get bursts of noise (see
    ``Perturbation``) while the recorded actions stay the expert's. A successful episode
    goes on for ``settle_steps`` more recorded steps in which the expert holds its goal:
    demonstrations then show that the goal is where to stay, not a point to pass through.
    ``result.steps`` still counts the steps to success.

    With a ``driver`` (DAgger) the driver's actions move the arm and the expert only labels:
    at every step it re-plans from the scene (``Expert.replan``), so each recorded action is
    what the expert would do from the state the driver led to.
    """
    observations: list[dict] = []
    actions: list[np.ndarray] = []

    def on_step(observation: dict, action: np.ndarray) -> None:
        observations.append(observation)
        actions.append(np.asarray(action, dtype=np.float32))

    perturb = Perturbation(perturbation, env.unwrapped.robot.action_size - 1, seed) if perturbation > 0 else None
    result, randomization = _expert_loop(env, seed, on_step=on_step, perturbation=perturb, settle_steps=settle_steps,
                                         driver=driver)
    return RecordedEpisode(result, observations, actions, randomization)


def _expert_loop(
    env: gym.Env,
    seed: int,
    on_frame: Callable[[np.ndarray], None] | None = None,
    on_step: Callable[[dict, np.ndarray], None] | None = None,
    perturbation: Perturbation | None = None,
    settle_steps: int = 0,
    driver: Driver | None = None,
) -> tuple[EpisodeResult, dict]:
    """The episode loop: reset with ``seed``, step the expert (or the ``driver``) until the episode ends.

    ``on_step(observation, action)`` sees each observation and the action the expert chose from it,
    before the executed action is stepped: the expert's, or the driver's when there is one; after
    a success it also sees ``settle_steps`` more, unperturbed, in which the expert holds the goal.
    In the chain scene the episode is one link: the links before it are done first (``chain_lead_in``),
    and a failed one fails the episode before anything is recorded.
    Returns the result and the episode's randomized values.
    """
    observation, info = env.reset(seed=seed)
    randomization = info["randomization"]
    base = env.unwrapped
    if isinstance(base.task, ChainScene) and links_before(seed):
        if not chain_lead_in(env, links_before(seed)):
            return EpisodeResult(base.task.name, base.robot.name, seed, False, 0, base.instruction), randomization
        observation = base.observe()
    expert = make_expert(env)
    expert.reset()
    if driver is not None:
        driver.reset()
    if on_frame is not None:
        on_frame(env.render())
    steps, done = 0, False
    while not done:
        if driver is not None:
            expert.replan()
        action = expert.act()
        if on_step is not None:
            on_step(observation, action)
        if driver is not None:
            action = driver.act(observation)
        if perturbation is not None and expert.perturbable:
            action = perturbation.apply(action)
        observation, _, terminated, truncated, info = env.step(action)
        steps += 1
        done = terminated or truncated
        if on_frame is not None:
            on_frame(env.render())
    success = bool(info["is_success"])
    if success and on_step is not None:
        for _ in range(settle_steps):  # on the unwrapped env, past the time limit's count
            action = expert.act()
            on_step(observation, action)
            observation, *_ = base.step(action)
    result = EpisodeResult(base.task.name, base.robot.name, seed, success, steps, base.instruction)
    return result, randomization


def chain_lead_in(env: gym.Env, links: int) -> bool:
    """The expert completes ``links`` links of the chain scene in ``env``, each in ``LINK_STEPS``, and the
    scene moves on to the next link's goal; False as soon as one is not done.

    Nothing is rendered and the time limit does not count these steps: they only set the scene.
    """
    base = env.unwrapped
    for _ in range(links):
        expert = make_expert(base)
        expert.reset()
        for _ in range(LINK_STEPS):
            _, succeeded, _, _ = base.advance(expert.act())  # physics only: nothing rendered
            if succeeded:
                break
        else:
            return False
        next_link(base)
    return True
