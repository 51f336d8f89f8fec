"""Who acts in an evaluation: the deployed policy, or the scripted expert that proves the metrics mean something.

An actor drives a batch of env slots. ``reset(slot)`` starts a slot afresh (a
new episode, or a new instruction of a chain); ``act(observations)`` returns one
action per slot, None for an idle slot (its observation is None too).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import gymnasium as gym
import numpy as np

from robostral.runtime import PolicyRuntime
from sim.experts import make_expert


class Actor(Protocol):
    def reset(self, slot: int) -> None: ...

    def act(self, observations: Sequence[dict | None]) -> list[np.ndarray | None]: ...


class PolicyActor:
    """A bundle through ONNX Runtime: one batched call per control step, temporal ensembling per slot.

    Idle slots are fed their last observation (the batch keeps its size) and their actions dropped.
    """

    def __init__(self, runtime: PolicyRuntime, slots: int) -> None:
        self.controller = runtime.controller(slots)
        self.last: list[dict | None] = [None] * slots

    def reset(self, slot: int) -> None:
        self.controller.reset(slot)

    def act(self, observations: Sequence[dict | None]) -> list[np.ndarray | None]:
        for slot, observation in enumerate(observations):
            if observation is not None:
                self.last[slot] = observation
        rows = [o if o is not None else self.last[i] or _first(self.last) for i, o in enumerate(observations)]
        actions = self.controller.act(
            np.stack([o["image"] for o in rows]),
            np.stack([o["proprio"] for o in rows]),
            [o["instruction"] for o in rows],
        )
        return [action if o is not None else None for action, o in zip(actions, observations)]


class ExpertActor:
    """The task's scripted expert in every slot; it reads the true simulator state, not the observation."""

    def __init__(self, envs: Sequence[gym.Env]) -> None:
        self.experts = [make_expert(env) for env in envs]

    def reset(self, slot: int) -> None:
        self.experts[slot].reset()  # plans for the task's current goal

    def act(self, observations: Sequence[dict | None]) -> list[np.ndarray | None]:
        return [None if o is None else expert.act() for expert, o in zip(self.experts, observations)]


def _first(observations: Sequence[dict | None]) -> dict:
    return next(o for o in observations if o is not None)
