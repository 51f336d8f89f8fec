"""pick_place: pick the named cube and place it in the named bin (open boxes with low walls)."""

from __future__ import annotations

import numpy as np

from sim.randomization import RandomizationConfig
from sim.tasks.task import Goal, Task

BIN_INNER_HALF = 0.065  # m
BIN_WALL = 0.008  # m, wall thickness
BIN_HEIGHT = 0.035  # m, wall height


def bin_boxes(inner_half: float = BIN_INNER_HALF) -> list[tuple[list[float], list[float]]]:
    """(half_extents, offset) of the floor and four walls of a bin centred at its floor."""
    h, w, t = inner_half, BIN_HEIGHT / 2, BIN_WALL / 2
    outer = h + t
    return [
        ([outer + t, outer + t, 0.002], [0, 0, 0.002]),
        ([t, outer + t, w], [outer, 0, w]),
        ([t, outer + t, w], [-outer, 0, w]),
        ([outer + t, t, w], [0, outer, w]),
        ([outer + t, t, w], [0, -outer, w]),
    ]


class PickPlace(Task):
    name = "pick_place"
    max_episode_steps = 160
    carries = True
    bin_inner_half = BIN_INNER_HALF  # m, judged by is_success; a scene with other bins sets its own

    def build(self, rng: np.random.Generator, randomization: RandomizationConfig) -> Goal:
        cube_colors = self.pick_colors(rng, 2)
        bin_colors = self.pick_colors(rng, 2)
        cube_slots = [(0.38, -0.12), (0.38, 0.12)]
        bin_slots = [(0.56, -0.13), (0.56, 0.13)]
        cubes = [
            self.add_cube(rng, c, xy, randomization)
            for c, xy in zip(cube_colors, self.place(rng, cube_slots, randomization))
        ]
        for color, xy in zip(bin_colors, self.place(rng, bin_slots, randomization, scale=0.5)):
            name = self.add_object(f"bin_{color}")
            self.sim.create_compound(name, bin_boxes(), [xy[0], xy[1], 0.0], self.color(rng, color, randomization))
        return Goal(cubes[0], f"bin_{bin_colors[0]}")

    def is_success(self) -> bool:
        cube, target = self.sim.position(self.goal.a), self.sim.position(self.goal.b)
        low = cube[2] < BIN_HEIGHT + self.sizes[self.goal.a] / 2
        inside = np.all(np.abs(cube - target)[:2] < self.bin_inner_half) and low
        return bool(inside and self.resting_free(self.goal.a))
