"""Distractor choice: which object the robot disturbed first, the named one or one of another colour.

An object counts as chosen at the first control step where it is more than
``MOVED`` from where it rested after reset (3-D, so lifting counts), or is
raised by more than ``LIFTED`` while the robot touches it (held up). Only
movable objects are watched (cubes; bins, zones and targets never move), and
only in scenes with more than one: push, pick_place and stack. If two objects
qualify at the same step, the one displaced further is taken.
"""

from __future__ import annotations

import numpy as np

from sim.env import RobotTaskEnv

MOVED = 0.02  # m
LIFTED = 0.005  # m


class FirstMove:
    """Watches an env's movable objects from the current state on; ``first`` names the first one disturbed."""

    def __init__(self, env: RobotTaskEnv) -> None:
        self.sim, self.robot = env.sim, env.robot
        movable = set(self.sim.moving_bodies())
        self.start = {name: self.sim.position(name) for name in env.task.objects if name in movable}
        self.first: str | None = None

    @property
    def has_distractors(self) -> bool:
        return len(self.start) > 1

    def update(self) -> None:
        """Check the objects once more (call after each step); free once the first one is known."""
        if self.first is not None or not self.has_distractors:
            return
        best, farthest = None, 0.0
        for name, start in self.start.items():
            delta = self.sim.position(name) - start
            distance = float(np.linalg.norm(delta))
            held = delta[2] > LIFTED and self.robot.touches(name)
            if (distance > MOVED or held) and distance >= farthest:
                best, farthest = name, distance
        self.first = best
