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

from robostral.runtime import ChunkController, PolicyRuntime
from sim.experts import make_expert


class Actor(Protocol):
    def reset(self, slot: int) -> None: ...

    def act(self, observations: Sequence[dict | None]) -> list[np.ndarray | None]: ...


class PolicyActor:
    """A bundle through ONNX Runtime: one batched call per control step over the busy slots, temporal
    ensembling per slot. ``batched=False`` makes one call per busy slot instead: what batching is measured against.
    """

    def __init__(self, runtime: PolicyRuntime, slots: int, batched: bool = True) -> None:
        self.controllers = [runtime.controller(slots)] if batched else [runtime.controller(1) for _ in range(slots)]
        self.batched = batched

    def reset(self, slot: int) -> None:
        if self.batched:
            self.controllers[0].reset(slot)
        else:
            self.controllers[slot].reset()

    def act(self, observations: Sequence[dict | None]) -> list[np.ndarray | None]:
        return [None if plan is None else plan[0] for plan in self.plans(observations)]

    def plans(self, observations: Sequence[dict | None]) -> list[np.ndarray | None]:
        """Per slot, the ensembled chunk (K, A): this step's target, then the plan a trajectory message carries."""
        plans: list[np.ndarray | None] = [None] * len(observations)
        busy = [slot for slot, o in enumerate(observations) if o is not None]
        if self.batched and busy:
            for slot, plan in zip(busy, _plan(self.controllers[0], [observations[s] for s in busy], busy)):
                plans[slot] = plan
        elif busy:
            for slot in busy:
                plans[slot] = _plan(self.controllers[slot], [observations[slot]])[0]
        return plans


def _plan(controller: ChunkController, rows: Sequence[dict], envs: Sequence[int] | None = None) -> np.ndarray:
    wrist = np.stack([o["wrist_image"] for o in rows]) if "wrist_image" in rows[0] else None
    return controller.act_chunk(
        np.stack([o["image"] for o in rows]), np.stack([o["proprio"] for o in rows]), [o["instruction"] for o in rows],
        envs, wrist,
    )


class PolicyDriver:
    """A bundle driving one env by itself, as a DAgger collection lets it (``sim.rollout.Driver``)."""

    def __init__(self, bundle: str, threads: int = 1) -> None:
        self.actor = PolicyActor(PolicyRuntime(bundle, threads=threads), slots=1)

    def reset(self) -> None:
        self.actor.reset(0)

    def act(self, observation: dict) -> np.ndarray:
        return self.actor.act([observation])[0]


class ExpertActor:
    """The task's scripted expert in every slot; it reads the true simulator state, not the observation."""

    def __init__(self, envs: Sequence[gym.Env]) -> None:
        self.experts = [make_expert(env) for env in envs]

    def reset(self, slot: int) -> None:
        self.experts[slot].reset()  # plans for the task's current goal

    def act(self, observations: Sequence[dict | None]) -> list[np.ndarray | None]:
        return [None if o is None else expert.act() for expert, o in zip(self.experts, observations)]
