"""reach: move the tool over the named coloured target (three flat discs on the table)."""

from __future__ import annotations

import numpy as np

from sim.randomization import RandomizationConfig
from sim.tasks.task import Goal, Task

HOVER_HEIGHT = 0.05  # m above the disc where the tool should be
TOLERANCE = 0.025  # m
DISC_RADIUS = 0.03


class Reach(Task):
    name = "reach"
    max_episode_steps = 60

    def build(self, rng: np.random.Generator, randomization: RandomizationConfig) -> Goal:
        colors = self.pick_colors(rng, 3)
        slots = [(0.42, -0.15), (0.52, 0.0), (0.42, 0.15)]
        for color, xy in zip(colors, self.place(rng, slots, randomization)):
            name = self.add_object(f"target_{color}")
            self.sim.create_disc(name, DISC_RADIUS, [xy[0], xy[1], 0.001], self.color(rng, color, randomization))
        return Goal(f"target_{colors[0]}")

    def hover_point(self) -> np.ndarray:
        return self.sim.position(self.goal.a) + [0.0, 0.0, HOVER_HEIGHT]

    def is_success(self) -> bool:
        return bool(np.linalg.norm(self.robot.tool_position() - self.hover_point()) < TOLERANCE)
