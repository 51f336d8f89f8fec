"""Scripted experts, one per task: the source of demonstrations."""

from __future__ import annotations

from sim.env import RobotTaskEnv
from sim.experts.expert import Expert
from sim.experts.pick_place import PickPlaceExpert
from sim.experts.push import PushExpert
from sim.experts.reach import ReachExpert
from sim.experts.stack import StackExpert

EXPERTS: dict[str, type[Expert]] = {
    "reach": ReachExpert,
    "push": PushExpert,
    "pick_place": PickPlaceExpert,
    "stack": StackExpert,
}


def make_expert(env) -> Expert:
    """The expert for the task of ``env`` (a ``RobotTaskEnv``, wrapped or not)."""
    base: RobotTaskEnv = env.unwrapped
    return EXPERTS[base.task.name](base)


__all__ = ["EXPERTS", "Expert", "make_expert"]
