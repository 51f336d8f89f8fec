"""push: push the named cube into the named zone (flat coloured squares), among distractors."""

from __future__ import annotations

import numpy as np

from sim.randomization import RandomizationConfig
from sim.tasks.task import Goal, Task

ZONE_HALF = 0.05  # m, half the side of a zone


class Push(Task):
    name = "push"
    max_episode_steps = 150

    def build(self, rng: np.random.Generator, randomization: RandomizationConfig) -> Goal:
        cube_colors = self.pick_colors(rng, 2)
        zone_colors = self.pick_colors(rng, 2)
        cube_slots = [(0.40, -0.10), (0.40, 0.10)]
        zone_slots = [(0.54, -0.12), (0.54, 0.12)]
        cubes = [
            self.add_cube(rng, c, xy, randomization)
            for c, xy in zip(cube_colors, self.place(rng, cube_slots, randomization))
        ]
        for color, xy in zip(zone_colors, self.place(rng, zone_slots, randomization)):
            name = self.add_object(f"zone_{color}")
            rgba = self.color(rng, color, randomization)
            self.sim.create_box(name, [ZONE_HALF, ZONE_HALF, 0.0005], [xy[0], xy[1], 0.0005], rgba, collision=False)
        return Goal(cubes[0], f"zone_{zone_colors[0]}")

    def is_success(self) -> bool:
        offset = np.abs(self.sim.position(self.goal.a) - self.sim.position(self.goal.b))[:2]
        return bool(np.all(offset < ZONE_HALF))
