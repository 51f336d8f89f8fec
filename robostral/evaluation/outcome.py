"""Why a failed episode failed: what became of the named object, in a few words a report can count.

A success rate says how often; these say what to fix (more grasp demonstrations,
a better release, the language). Each failed episode gets one reason, judged from
the named object's path and where it rests at the end, checked in this order:

- ``another object first``: the first object disturbed was not the named one (``choice``);
- ``target not reached``: the named thing cannot move (reach's target) and the tool did not get there;
- ``never touched``: the robot never touched the named object;
- ``still held``: at the end the robot touches it and it is off the table (carried, or not let go);
- where the object must be carried (``Task.carries``: pick_place, stack, chain links):
  ``never lifted`` (touched, never raised by ``LIFT``), ``set down off target`` (raised, now
  against another object of the scene or at another height: tilted on the other cube, in
  another bin, on a rim), else ``dropped by the goal`` or ``dropped on the way`` (raised, now
  on the table alone, within ``NEAR_GOAL`` of the goal object or farther: fell off the other
  cube or beside the bin, or lost in transit);
- where it is pushed: ``barely moved`` (less than ``choice.MOVED``) or ``pushed off target``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import numpy as np

from robostral.evaluation.choice import LIFTED, MOVED
from sim.env import RobotTaskEnv

LIFT = 0.01  # m the named object must rise above its start to count as lifted
TABLE_LEVEL = 0.005  # m above its start height within which a carried object counts as back on the table
NEAR_GOAL = 0.08  # m, horizontal distance from the goal object (the other cube, the bin) that counts as by it

OTHER_FIRST = "another object first"
NOT_REACHED = "target not reached"
NEVER_TOUCHED = "never touched"
STILL_HELD = "still held"
NEVER_LIFTED = "never lifted"
DROPPED_BY_GOAL = "dropped by the goal"
DROPPED_ON_THE_WAY = "dropped on the way"
SET_DOWN_OFF = "set down off target"
BARELY_MOVED = "barely moved"
PUSHED_OFF = "pushed off target"
FAILURES = (OTHER_FIRST, NOT_REACHED, NEVER_TOUCHED, STILL_HELD, NEVER_LIFTED, SET_DOWN_OFF, DROPPED_BY_GOAL,
            DROPPED_ON_THE_WAY, BARELY_MOVED, PUSHED_OFF)  # the order reports list them in
NOT_RECORDED = "not recorded"  # what reports count a failure under when its results predate the reasons


def count_failures(reasons: Iterable[str | None]) -> dict[str, int]:
    """How many failed episodes each reason holds, in ``FAILURES`` order (None, a result from before reasons
    were recorded, counts as ``NOT_RECORDED``, last); reasons that did not occur are left out."""
    counts = Counter(reason or NOT_RECORDED for reason in reasons)
    return {reason: counts[reason] for reason in (*FAILURES, NOT_RECORDED) if counts[reason]}


def describe_failures(counts: dict[str, int]) -> str:
    """``count_failures``'s counts as one line of text: "dropped by the goal 19, never lifted 9"."""
    return ", ".join(f"{reason} {count}" for reason, count in counts.items())


class NamedObjectWatch:
    """Follows the named object of an env's goal from the current state on (call ``update`` after each step)."""

    def __init__(self, env: RobotTaskEnv) -> None:
        self.sim, self.robot, self.task = env.sim, env.robot, env.task
        self.named = self.task.goal.a
        self.movable = self.named in set(self.sim.moving_bodies())
        self.start = self.sim.position(self.named) if self.movable else None
        self.touched, self.highest = False, 0.0  # highest: the most it rose above its start (m)

    def update(self) -> None:
        if self.movable:
            self.touched = self.touched or self.robot.touches(self.named)
            self.highest = max(self.highest, float(self.sim.position(self.named)[2] - self.start[2]))

    def failure(self, first_moved: str | None) -> str:
        """The reason a failed episode failed, one of ``FAILURES``; ``first_moved`` as ``choice.FirstMove`` saw it."""
        if first_moved is not None and first_moved != self.named:
            return OTHER_FIRST
        if not self.movable:
            return NOT_REACHED
        if not self.touched:
            return NEVER_TOUCHED
        offset = self.sim.position(self.named) - self.start
        if self.robot.touches(self.named) and offset[2] > LIFTED:
            return STILL_HELD
        if self.task.carries:
            if self.highest < LIFT:
                return NEVER_LIFTED
            if abs(offset[2]) >= TABLE_LEVEL or self._against_another_object():
                return SET_DOWN_OFF
            return DROPPED_BY_GOAL if self._from_goal() < NEAR_GOAL else DROPPED_ON_THE_WAY
        return BARELY_MOVED if float(np.linalg.norm(offset)) < MOVED else PUSHED_OFF

    def _against_another_object(self) -> bool:
        return any(self.sim.in_contact(self.named, other) for other in self.task.objects if other != self.named)

    def _from_goal(self) -> float:
        """Horizontal distance (m) from the named object to the goal object (``Goal.b``)."""
        delta = self.sim.position(self.named) - self.sim.position(self.task.goal.b)
        return float(np.linalg.norm(delta[:2]))
