"""CALVIN-style instruction chains: five pick-and-place instructions in a row, in one scene, never reset.

The scene is pick_place's with one more bin: two cubes on the table in front
of three bins in a row. Link 1 is an ordinary pick_place goal (a cube from the
table into a bin). Every later link names the *other* cube and a bin that holds
no cube at that moment, so with two cubes and three bins a free bin always
exists: links alternate between the cubes, and from link 3 on the cube comes out
of one bin into another. Each link gets pick_place's step budget; the chain ends
at the first link that is not done within it. The score is the number of links
completed, 0 to 5. Instructions use pick_place's phrasings (train or held-out).

The bins are 16 cm inside instead of pick_place's 13 cm: a cube set down a
centimetre or two off-centre must still leave room for open jaws around it when
it is picked out again. With 13 cm bins the scripted expert's jaws caught a wall
on about 5% of those picks (average 4.70 links on the Panda); with 16 cm it
completes all 5 links in 100 of 100 chains on each robot (seeds 10,000,000 on).

Demonstrations of chains are recorded one link at a time: an episode of the
``chain`` env (``sim.rollout.make_env("chain", ...)``) run by ``sim.rollout`` is
link ``links_before(seed) + 1``, reached by the scripted expert completing the
links before it unrecorded, so that consecutive seeds cover the five links evenly
(``robostral collect --tasks chain``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from sim.randomization import RandomizationConfig
from sim.tasks.pick_place import PickPlace, bin_boxes
from sim.tasks.task import Goal

if TYPE_CHECKING:  # sim.env imports the tasks
    from sim.env import RobotTaskEnv

CHAIN_LENGTH = 5
LINK_STEPS = PickPlace.max_episode_steps  # control steps allowed per link
CUBE_SLOTS = [(0.38, -0.12), (0.38, 0.12)]  # m, base frame
BIN_SLOTS = [(0.58, -0.2), (0.58, 0.0), (0.58, 0.2)]  # m, base frame
BIN_JITTER = 0.25  # fraction of the object-position range: bins 20 cm apart never touch


def links_before(seed: int) -> int:
    """How many links the expert completes unrecorded before the recorded link of a ``chain`` episode."""
    return seed % CHAIN_LENGTH


class ChainScene(PickPlace):
    """pick_place with two cubes and three wider bins; ``next_goal`` draws the next link of a chain."""

    bin_inner_half = 0.08  # m

    def build(self, rng: np.random.Generator, randomization: RandomizationConfig) -> Goal:
        cube_colors = self.pick_colors(rng, 2)
        bin_colors = self.pick_colors(rng, 3)
        cubes = [
            self.add_cube(rng, c, xy, randomization)
            for c, xy in zip(cube_colors, self.place(rng, CUBE_SLOTS, randomization))
        ]
        bins = []
        for color, xy in zip(bin_colors, self.place(rng, BIN_SLOTS, randomization, scale=BIN_JITTER)):
            bins.append(self.add_object(f"bin_{color}"))
            rgba = self.color(rng, color, randomization)
            self.sim.create_compound(bins[-1], bin_boxes(self.bin_inner_half), [xy[0], xy[1], 0.0], rgba)
        return Goal(cubes[0], bins[0])

    @property
    def cubes(self) -> list[str]:
        return [name for name in self.objects if name.startswith("cube_")]

    @property
    def bins(self) -> list[str]:
        return [name for name in self.objects if name.startswith("bin_")]

    def occupied(self, bin_name: str) -> bool:
        """A cube lies within the bin's walls (seen from above)."""
        return any(self.occupied_by(bin_name, cube) for cube in self.cubes)

    def occupied_by(self, bin_name: str, cube: str) -> bool:
        """``cube`` lies within the bin's walls (seen from above)."""
        centre = self.sim.position(bin_name)[:2]
        return bool(np.all(np.abs(self.sim.position(cube)[:2] - centre) < self.bin_inner_half))

    def next_goal(self, rng: np.random.Generator) -> Goal:
        """The next link: the cube the current goal did not name, into a bin that holds no cube now."""
        cube = next(c for c in self.cubes if c != self.goal.a)
        free = [b for b in self.bins if not self.occupied(b)]
        return Goal(cube, free[int(rng.integers(len(free)))])


def next_link(env: RobotTaskEnv) -> str:
    """Move the chain scene of ``env`` on to its next link's goal; returns the instruction."""
    return env.set_goal(env.task.next_goal(env.np_random))
