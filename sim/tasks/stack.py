"""stack: put the named cube on the other named cube, with a third cube as a distractor."""

from __future__ import annotations

import numpy as np

from sim.randomization import RandomizationConfig
from sim.tasks.task import Goal, Task

HEIGHT_TOLERANCE = 0.012  # m


class Stack(Task):
    name = "stack"
    max_episode_steps = 160
    carries = True

    def build(self, rng: np.random.Generator, randomization: RandomizationConfig) -> Goal:
        colors = self.pick_colors(rng, 3)
        slots = [(0.38, -0.15), (0.52, 0.0), (0.38, 0.15)]
        cubes = [
            self.add_cube(rng, c, xy, randomization) for c, xy in zip(colors, self.place(rng, slots, randomization))
        ]
        return Goal(cubes[0], cubes[1])

    def is_success(self) -> bool:
        top, base = self.sim.position(self.goal.a), self.sim.position(self.goal.b)
        expected = (self.sizes[self.goal.a] + self.sizes[self.goal.b]) / 2
        aligned = np.linalg.norm((top - base)[:2]) < self.sizes[self.goal.b] / 2
        on_top = abs(top[2] - base[2] - expected) < HEIGHT_TOLERANCE
        return bool(aligned and on_top and self.resting_free(self.goal.a))
