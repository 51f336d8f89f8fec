"""Scripted experts: closed-loop IK waypoint followers with named phases.

Experts read the true simulator state (object poses) and output the same
actions a policy would: absolute joint targets for the arm plus the gripper.
The tool follows a reference point that moves toward the phase's waypoint at a
capped Cartesian speed, so motions are straight lines at a steady pace, and the
waypoint is recomputed from the live object poses every control step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from sim.env import RobotTaskEnv

TOOL_SPEED = 0.35  # m/s, cap on the reference point's speed
GRASP_DEPTH = 0.0  # m, tool point relative to the cube centre when grasping
GRASP_STEPS = 8  # control steps for the jaws to close
RELEASE_STEPS = 6
CARRY_HEIGHT = 0.15  # m, tool height while carrying


@dataclass
class Phase:
    """Move the tool to ``waypoint()`` with the gripper at ``closed`` (0 open, 1 closed); done within ``tolerance``."""

    name: str
    waypoint: Callable[[], np.ndarray]
    closed: float = 0.0
    tolerance: float = 0.01  # m
    min_steps: int = 0  # control steps to stay in the phase at least (e.g. while the gripper closes)
    speed: float = TOOL_SPEED
    yaw: Callable[[], float] | None = None  # jaw yaw to follow; None keeps the last one
    done: Callable[[], bool] | None = None  # overrides "waypoint reached" as the exit test
    perturbable: bool = True  # demonstrations may perturb the arm here (see sim.rollout.Perturbation)


class Expert:
    """Base class: subclasses return their phases from ``plan``; ``act`` walks through them."""

    def __init__(self, env: RobotTaskEnv) -> None:
        self.env = env
        self.robot = env.robot
        self.task = env.task
        self.sim = env.sim

    def plan(self) -> list[Phase]:
        raise NotImplementedError

    def reset(self) -> None:
        """Start a new episode; call after ``env.reset``."""
        self.phases = self.plan()
        self.index = 0
        self.steps_in_phase = 0
        self.reference = self.robot.tool_position()
        self.entry = self.reference.copy()  # the reference when the current phase began
        self.yaw = 0.0

    @property
    def perturbable(self) -> bool:
        """Whether the current phase tolerates a perturbed arm (not while gripping or letting go)."""
        return self.index < len(self.phases) and self.phases[self.index].perturbable

    @property
    def phase(self) -> str:
        return self.phases[self.index].name if self.index < len(self.phases) else "done"

    def act(self) -> np.ndarray:
        """The next action: arm joint targets from IK plus the gripper target."""
        phase = self.phases[min(self.index, len(self.phases) - 1)]
        if phase.yaw is not None:
            self.yaw = phase.yaw()
        goal = phase.waypoint()
        step = phase.speed / self.env.config.control_hz
        delta = goal - self.reference
        distance = float(np.linalg.norm(delta))
        self.reference = goal.copy() if distance <= step else self.reference + delta * (step / distance)
        self.steps_in_phase += 1
        if phase.done is not None:
            finished = phase.done()
        else:
            finished = distance <= step and np.linalg.norm(self.robot.tool_position() - goal) < phase.tolerance
        if self.index < len(self.phases) - 1 and finished and self.steps_in_phase >= phase.min_steps:
            self.go_to(self.index + 1)
        gripper = self.robot.gripper.position(phase.closed)
        return np.append(self.robot.inverse_kinematics(self.reference, self.yaw), gripper)

    def go_to(self, index: int) -> None:
        """Enter phase ``index`` (subclasses use it to retry from an earlier phase)."""
        self.index = index
        self.steps_in_phase = 0
        self.entry = self.reference.copy()

    # -- helpers for subclasses ---------------------------------------------------------
    def lift(self, height: float) -> Callable[[], np.ndarray]:
        """A waypoint straight above where the phase began, at ``height`` metres."""
        return lambda: np.array([self.entry[0], self.entry[1], height])

    def above(self, body: str, height: float) -> Callable[[], np.ndarray]:
        """A waypoint ``height`` metres above a body's origin, following the body as it moves."""
        return lambda: self.sim.position(body) + [0.0, 0.0, height]

    def cube_yaw(self, body: str) -> Callable[[], float]:
        """Jaw yaw for the nearest face pair of a cube (a cube looks the same every 90 degrees)."""
        return lambda: float((self.sim.yaw(body) + np.pi / 4) % (np.pi / 2) - np.pi / 4)

    def grip(self, cube: str) -> float:
        """Gripper command (0 open, 1 closed) that holds ``cube``, as the robot's gripper grips (``robots.GRIPS``)."""
        return self.robot.gripper.holding(self.task.sizes[cube])

    def pick(self, cube: str) -> list[Phase]:
        """Approach from above, descend, close on the cube, lift it clear of the table."""
        size, closed = self.task.sizes[cube], self.grip(cube)
        return [
            Phase("approach", self.above(cube, 0.10), yaw=self.cube_yaw(cube)),
            Phase("descend", self.above(cube, GRASP_DEPTH), yaw=self.cube_yaw(cube), tolerance=0.006, speed=0.2),
            Phase("grasp", self.lift(size / 2 + GRASP_DEPTH), closed=closed, tolerance=0.02, min_steps=GRASP_STEPS,
                  perturbable=False),
            Phase("lift", self.lift(CARRY_HEIGHT), closed=closed, tolerance=0.02),
        ]

    def release(self, waypoint: Callable[[], np.ndarray]) -> list[Phase]:
        """Open the gripper at ``waypoint`` and back away upwards."""
        return [
            Phase("release", waypoint, closed=0.0, tolerance=0.02, min_steps=RELEASE_STEPS, perturbable=False),
            Phase("retreat", self.lift(CARRY_HEIGHT + 0.05), tolerance=0.02, perturbable=False),
        ]
