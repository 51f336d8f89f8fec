"""The batched episode loop: several envs of one task stepped together, one actor call per control step.

``evaluate_episodes``, ``evaluate_chains`` and ``evaluate_chain_links`` are the
reusable entry points (the sweep engine calls them per cell with its own randomization): they build
``batch_size`` envs, hand each the next seed when its episode ends, and return
one result per seed, in seed order. The policy is a bundle run by ONNX Runtime
or an actor factory (``ExpertActor`` runs the scripted expert). Results depend
only on the policy, the seeds, the env settings and the batch size.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Collection, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from functools import partial

import gymnasium as gym
import numpy as np

from robostral.evaluation.actors import Actor, PolicyActor
from robostral.evaluation.choice import FirstMove
from robostral.evaluation.outcome import NamedObjectWatch
from robostral.evaluation.supervised import CONTROLLERS, SupervisedActor
from robostral.runtime import PolicyRuntime
from robostral.video import label
from sim.camera_input import SOURCE_FIELDS
from sim.env import RobotTaskEnv
from sim.randomization import RandomizationConfig
from sim.rollout import chain_lead_in, make_env
from sim.tasks.chain import CHAIN_LENGTH, LINK_STEPS, ChainScene, next_link

RENDER_SIZE = 320  # pixels, frames of recorded rollouts

# What acts: a verified bundle, or a factory that makes an actor for a list of envs (e.g. ``ExpertActor``).
Policy = PolicyRuntime | Callable[[Sequence[gym.Env]], Actor]


@dataclass(frozen=True)
class EpisodeResult:
    task: str
    robot: str
    seed: int
    split: str  # instruction phrasings: train or heldout
    success: bool
    steps: int
    instruction: str
    named: str  # the object the instruction says to act on
    first_moved: str | None  # the first object disturbed (see ``choice``); None if none or no distractors
    failure: str | None = None  # why it failed, one of ``outcome.FAILURES``; None for a success
    frames: list = field(default_factory=list, repr=False, compare=False)  # labelled, for recorded seeds only

    def as_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k != "frames"}


@dataclass(frozen=True)
class LinkResult(EpisodeResult):
    """One link of a chain attempted by the policy after the expert completed the links before it."""

    link: int = 1  # 1..CHAIN_LENGTH
    led_in: bool = True  # False: the expert failed a link before this one, so the policy's attempt does not count


@dataclass(frozen=True)
class ChainResult:
    robot: str
    seed: int
    split: str
    completed: int  # links done in a row, 0..CHAIN_LENGTH
    steps: int
    instructions: list[str]  # the links attempted, in order
    frames: list = field(default_factory=list, repr=False, compare=False)

    def as_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k != "frames"}


def evaluate_episodes(
    policy: Policy,
    task: str,
    robot: str,
    seeds: Sequence[int],
    *,
    randomization: RandomizationConfig | dict | None = None,
    instructions: str = "train",
    batch_size: int = 8,
    record: Collection[int] = (),
    progress: Callable[[], None] | None = None,
    batched: bool = True,
    controller: str = "direct",
) -> list[EpisodeResult]:
    """One episode per seed of ``task`` on ``robot``; ``record`` seeds keep labelled frames.

    ``batched=False``: a bundle is called once per env per step instead of once per step (for comparison).
    ``controller``: how a bundle's targets reach the arm (``robostral.evaluation.supervised``).
    """
    return _evaluate(
        _Episode, policy, task, robot, seeds, randomization, instructions, batch_size, record, progress, batched,
        controller,
    )


def evaluate_chains(
    policy: Policy,
    robot: str,
    seeds: Sequence[int],
    *,
    randomization: RandomizationConfig | dict | None = None,
    instructions: str = "train",
    batch_size: int = 8,
    record: Collection[int] = (),
    progress: Callable[[], None] | None = None,
    controller: str = "direct",
) -> list[ChainResult]:
    """One chain of ``CHAIN_LENGTH`` instructions per seed in a ``ChainScene`` (see ``chains``)."""
    return _evaluate(
        _Chain, policy, ChainScene, robot, seeds, randomization, instructions, batch_size, record, progress,
        controller=controller,
    )


def evaluate_chain_links(
    policy: Policy,
    robot: str,
    seeds: Sequence[int],
    link: int,
    *,
    randomization: RandomizationConfig | dict | None = None,
    instructions: str = "train",
    batch_size: int = 8,
    record: Collection[int] = (),
    progress: Callable[[], None] | None = None,
    controller: str = "direct",
) -> list[LinkResult]:
    """Link ``link`` of a chain per seed: the expert completes the links before it unrecorded, the policy this one.

    Where a chain fails, this says which link the policy cannot do from the states its demonstrations show
    (``chain`` episodes of ``robostral collect`` are recorded the same way).
    """
    if not 1 <= link <= CHAIN_LENGTH:
        raise ValueError(f"link must be within 1..{CHAIN_LENGTH}, got {link}")
    return _evaluate(
        partial(_Link, link=link), policy, "chain", robot, seeds, randomization, instructions, batch_size, record,
        progress, controller=controller,
    )


def _evaluate(
    kind, policy, task, robot, seeds, randomization, instructions, batch_size, record, progress, batched=True,
    controller="direct",
) -> list:
    """The loop both public entry points share: ``kind`` (_Episode or _Chain) runs one seed."""
    if controller not in CONTROLLERS:
        raise ValueError(f"controller must be one of {', '.join(CONTROLLERS)}, got {controller!r}")
    envs = _make_envs(
        policy, robot, batch_size, seeds, task=task, randomization=randomization, instructions=instructions
    )
    start = partial(kind, split=instructions, record=frozenset(record))
    return _run(envs, _actor(policy, envs, batched, robot, controller), seeds, start, progress)


def _make_envs(policy: Policy, robot: str, batch_size: int, seeds: Sequence[int], task, **config) -> list[gym.Env]:
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if len(set(seeds)) != len(seeds):
        raise ValueError("seeds must be distinct: one result is returned per seed")
    if isinstance(policy, PolicyRuntime):
        trained = policy.card.robot
        if robot != trained:
            raise ValueError(f"the bundle drives a {trained}, not a {robot}: its actions are {trained} joint targets")
        card = policy.card  # the cameras rendered and cropped as in training (the card's camera_input)
        config.update(image_size=policy.image_shape[0], control_hz=int(policy.control_hz))
        config.update(wrist_camera=card.wrist_camera)
        config.update({SOURCE_FIELDS[name]: card.camera_input(name) for name in card.cameras})
    elif callable(policy):
        config.update(image_size=0)  # actors other than a bundle read the simulator, not the camera
    else:
        raise ValueError(f"policy must be a PolicyRuntime or an actor factory, got {policy!r}")
    count = min(batch_size, max(1, len(seeds)))
    if isinstance(task, str):
        return [make_env(task, robot, render_mode="rgb_array", render_size=RENDER_SIZE, **config) for _ in range(count)]
    return [RobotTaskEnv(task, robot, render_mode="rgb_array", render_size=RENDER_SIZE, **config) for _ in range(count)]


def _actor(policy: Policy, envs: list[gym.Env], batched: bool, robot: str, controller: str) -> Actor:
    if not isinstance(policy, PolicyRuntime):
        return policy(envs)
    actor = PolicyActor(policy, len(envs), batched)
    if controller == "direct":
        return actor
    return SupervisedActor(actor, envs, robot, policy.control_hz, smooth=controller == "smooth")


def _run(envs: list[gym.Env], actor: Actor, seeds: Sequence[int], start, progress) -> list:
    """Run one episode per seed; an env whose episode ends takes the next seed."""
    pending, results = deque(seeds), {}
    runs: list = [None] * len(envs)

    def begin(slot: int) -> None:
        runs[slot] = start(envs[slot], pending.popleft()) if pending else None
        if runs[slot] is not None:
            actor.reset(slot)

    try:
        for slot in range(len(envs)):
            begin(slot)
        while any(runs):
            actions = actor.act([run.observation if run else None for run in runs])
            for slot, (run, action) in enumerate(zip(runs, actions)):
                if run is None:
                    continue
                status = run.advance(*envs[slot].step(action))
                if status == "next":
                    actor.reset(slot)
                elif status == "done":
                    results[run.seed] = run.result()
                    if progress is not None:
                        progress()
                    begin(slot)
    finally:
        for env in envs:
            env.close()
    return [results[seed] for seed in seeds]


class _Run:
    """One seeded run in one env: ``advance`` takes each step's outcome and returns running, next or done."""

    def __init__(self, env: gym.Env, seed: int, split: str, record: Collection[int]) -> None:
        self.env, self.base, self.seed, self.split = env, env.unwrapped, seed, split
        self.observation, _ = env.reset(seed=seed)
        self.steps = 0
        self.frames: list[np.ndarray] | None = [] if seed in record else None
        self._film()

    def caption(self) -> str:
        return self.base.instruction

    def _film(self) -> None:
        if self.frames is not None:
            self.frames.append(label(self.env.render(), self.caption()))


class _Episode(_Run):
    """A task episode: it ends on success or at the registered time limit."""

    def __init__(self, env: gym.Env, seed: int, split: str, record: Collection[int]) -> None:
        super().__init__(env, seed, split, record)
        self._watch()
        self.success = False

    def _watch(self) -> None:
        """Watch the scene as it is now: which object moves first, and what becomes of the named one."""
        self.choice, self.named = FirstMove(self.base), NamedObjectWatch(self.base)

    def advance(self, observation, reward, terminated, truncated, info) -> str:
        self.observation, self.steps, self.success = observation, self.steps + 1, bool(info["is_success"])
        self.choice.update()
        self.named.update()
        self._film()
        return "done" if terminated or truncated else "running"

    def result(self) -> EpisodeResult:
        base = self.base
        return EpisodeResult(
            base.task.name,
            base.robot.name,
            self.seed,
            self.split,
            self.success,
            self.steps,
            base.instruction,
            base.task.goal.a,
            self.choice.first,
            None if self.success else self.named.failure(self.choice.first),
            self.frames or [],
        )


class _Link(_Episode):
    """A chain link: the expert leads in through the links before it (nothing filmed), then the policy acts."""

    def __init__(self, env: gym.Env, seed: int, split: str, record: Collection[int], link: int) -> None:
        super().__init__(env, seed, split, record)
        self.link = link
        self.led_in = chain_lead_in(env, link - 1)
        self.observation = self.base.observe()
        self._watch()  # the scene the policy is handed
        if self.frames is not None:
            self.frames.clear()
            self._film()

    def advance(self, observation, reward, terminated, truncated, info) -> str:
        return super().advance(observation, reward, terminated, truncated, info) if self.led_in else "done"

    def result(self) -> LinkResult:
        episode = super().result()
        if not self.led_in:  # the policy never acted: nothing of its to explain
            episode = replace(episode, failure=None)
        return LinkResult(**{f.name: getattr(episode, f.name) for f in fields(episode)}, link=self.link,
                          led_in=self.led_in)


class _Chain(_Run):
    """A chain: each link's success gives the scene the next goal; it ends at a failed link or after the last."""

    def __init__(self, env: gym.Env, seed: int, split: str, record: Collection[int]) -> None:
        self.completed, self.link_steps = 0, 0
        super().__init__(env, seed, split, record)
        self.instructions = [self.base.instruction]

    def advance(self, observation, reward, terminated, truncated, info) -> str:
        self.observation, self.steps, self.link_steps = observation, self.steps + 1, self.link_steps + 1
        status = "running"
        if info["is_success"]:
            self.completed += 1
            status = "done" if self.completed == CHAIN_LENGTH else "next"
        elif self.link_steps >= LINK_STEPS:
            status = "done"
        if status == "next":
            self.link_steps = 0
            self.instructions.append(next_link(self.base))
            self.observation = {**observation, "instruction": self.base.instruction}
        self._film()
        return status

    def caption(self) -> str:
        return f"{self.completed}/{CHAIN_LENGTH} {self.base.instruction}"

    def result(self) -> ChainResult:
        return ChainResult(
            self.base.robot.name,
            self.seed,
            self.split,
            self.completed,
            self.steps,
            self.instructions,
            self.frames or [],
        )
