"""What every task shares: the layout of coloured objects on the table and how they are randomized.

A task builds its objects on ``reset``, names them by role (``cube_red``,
``bin_blue``...), writes the instruction, and judges success from the simulator
state alone. It never seeds: the env hands it its random generator.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.language import COLORS, sample_instruction
from sim.randomization import RandomizationConfig
from sim.robot import Robot
from sim.simulation import Simulation

CUBE_SIZE = 0.04  # m, edge of a nominal cube
CUBE_MASS = 0.08  # kg
CUBE_FRICTION = 1.0
REST_SPEED = 0.05  # m/s, below which an object counts as resting


@dataclass
class Goal:
    """The named objects an instruction refers to: ``a`` is acted on, ``b`` is where it goes."""

    a: str
    b: str = ""


class Task:
    """Base class: subclasses set ``name`` and ``max_episode_steps`` and implement ``build`` and ``is_success``."""

    name: str = ""
    max_episode_steps: int = 100
    carries: bool = False  # the named object must be lifted and carried (not pushed) to succeed

    def __init__(self, sim: Simulation, robot: Robot) -> None:
        self.sim = sim
        self.robot = robot
        self.objects: list[str] = []
        self.sizes: dict[str, float] = {}
        self.goal = Goal("")
        self.values: dict[str, float] = {}

    def reset(self, rng: np.random.Generator, randomization: RandomizationConfig, split: str) -> str:
        """Remove the last episode's objects, build new ones, and return the instruction text."""
        for name in self.objects:
            self.sim.remove(name)
        self.objects, self.sizes, self.values = [], {}, {}
        self.goal = self.build(rng, randomization)
        return self.instruction(rng, split)

    def instruction(self, rng: np.random.Generator, split: str) -> str:
        """A wording of the current goal, drawn from the ``split`` phrasings."""
        colour_a = self.goal.a.split("_")[-1]
        colour_b = self.goal.b.split("_")[-1] if self.goal.b else ""
        return sample_instruction(rng, self.name, split, colour_a, colour_b)

    def build(self, rng: np.random.Generator, randomization: RandomizationConfig) -> Goal:
        raise NotImplementedError

    def is_success(self) -> bool:
        raise NotImplementedError

    # -- helpers for subclasses ---------------------------------------------------
    @staticmethod
    def pick_colors(rng: np.random.Generator, count: int) -> list[str]:
        names = list(COLORS)
        return [names[i] for i in rng.permutation(len(names))[:count]]

    @staticmethod
    def place(
        rng: np.random.Generator,
        slots: list[tuple[float, float]],
        randomization: RandomizationConfig,
        scale: float = 1.0,
    ) -> list[np.ndarray]:
        """Slot positions (x, y in metres), each jittered (``scale`` times the range), in a random order."""
        order = rng.permutation(len(slots))
        jitter = scale * np.array([randomization.jitter(rng, "object_position", size=2) for _ in slots])
        return [np.asarray(slots[i], dtype=float) + jitter[k] for k, i in enumerate(order)]

    def color(self, rng: np.random.Generator, name: str, randomization: RandomizationConfig) -> list[float]:
        rgb = np.clip(np.array(COLORS[name]) + randomization.jitter(rng, "object_color", size=3), 0, 1)
        return [*rgb.tolist(), 1.0]

    def add_cube(self, rng: np.random.Generator, color: str, xy: np.ndarray, randomization: RandomizationConfig) -> str:
        """A dynamic cube resting on the table; its size, mass, friction and yaw are randomized."""
        name = f"cube_{color}"
        size = CUBE_SIZE * (1 + randomization.jitter(rng, "object_size"))
        yaw = randomization.jitter(rng, "object_yaw")
        mass = CUBE_MASS * (1 + randomization.jitter(rng, "object_mass"))
        friction = CUBE_FRICTION * (1 + randomization.jitter(rng, "object_friction"))
        rgba = self.color(rng, color, randomization)
        self.sim.create_box(name, [size / 2] * 3, [xy[0], xy[1], size / 2], rgba, mass=mass, yaw=yaw)
        self.sim.set_dynamics(name, lateralFriction=friction, spinningFriction=0.002, rollingFriction=0.0001)
        self.objects.append(name)
        self.sizes[name] = size
        self.values.update({f"{name}_size": size, f"{name}_mass": mass, f"{name}_friction": friction})
        return name

    def add_object(self, name: str) -> str:
        self.objects.append(name)
        return name

    def resting_free(self, name: str) -> bool:
        """The object is at rest and the robot does not touch it (it was let go)."""
        return self.sim.speed(name) < REST_SPEED and not self.robot.touches(name)
