"""Scripted experts: closed-loop IK waypoint followers with named phases.

Experts read the true simulator state (object poses) and output the same
actions a policy would: absolute joint targets for the arm plus the gripper.
The tool follows a reference point that moves toward the phase's waypoint at a
capped Cartesian speed, so motions are straight lines at a steady pace, and the
waypoint is recomputed from the live object poses every control step.

An expert walks through its phases in order from ``reset``; ``replan`` instead
tells the phase from the scene alone (each phase's ``when``), so that it can act
from any state: the states a learned policy visits, for DAgger labels.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from sim.env import RobotTaskEnv
from sim.experts.scene import jaw_gap, pinched, tool_yaw

TOOL_SPEED = 0.35  # m/s, cap on the reference point's speed
APPROACH_HEIGHT = 0.10  # m, tool above a cube's centre before descending onto it
GRASP_DEPTH = 0.0  # m, tool point relative to the cube centre when grasping
GRASP_STEPS = 8  # control steps for the jaws to close
RELEASE_STEPS = 6
CARRY_HEIGHT = 0.15  # m, tool height while carrying

# How replan reads the scene (metres unless stated).
MAX_LEAD = 0.06  # farthest the kept reference may lead the tool (demonstrations: up to 4.5 cm, 2 steps of latency)
YAW_SLACK = 0.35  # rad, farthest the kept jaw yaw may be from the tool's
ABOVE = 0.01  # tool off the point above a cube (horizontally, or higher) that still counts as there, to descend
GRASP_REACH = 0.01  # tool-to-cube-centre distance at which the jaws close
OVER = 0.02  # horizontal tool-to-target distance that counts as over the target, ready to lower
RELEASE_REACH = 0.01  # tool-to-drop-point distance at which the jaws open
JAW_CLEARANCE = 0.01  # jaw gap beyond a cube's width that counts as open around it
HEIGHT_SLACK = 0.02  # tool below a phase's height that still counts as at it


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
    when: Callable[[], bool] | None = None  # the scene shows this phase under way (``Expert.replan``)


class Expert:
    """Base class: subclasses return their phases from ``plan``; ``act`` walks through them, ``replan`` finds
    where in them the scene is."""

    def __init__(self, env: RobotTaskEnv) -> None:
        self.env = env
        self.robot = env.robot
        self.task = env.task
        self.sim = env.sim
        self.phases: list[Phase] = []
        self.index = -1  # no phase yet: ``reset`` or ``replan`` picks one
        self.reference = self.robot.tool_position()
        self.yaw = 0.0

    def plan(self) -> list[Phase]:
        raise NotImplementedError

    def reset(self) -> None:
        """Start a new episode; call after ``env.reset``."""
        self.phases = self.plan()
        self.reference = self.robot.tool_position()
        self.yaw = 0.0
        self.go_to(0)

    def replan(self) -> None:
        """Re-derive the phase from the scene alone and restart the memory from it: the next ``act``
        continues the task from where the scene is now, whoever moved the arm or the objects.

        The scene's phase is the last one whose ``when`` holds (the first if none does), for the goal as it
        is now (a chain's next link has a new one). The memory is kept where it agrees with the scene, so
        that on the expert's own path the labels are its demonstrations' actions:

        - the reference point and the jaw yaw, as far as the tool follows them (``MAX_LEAD``, ``YAW_SLACK``);
          a reference reset to the tool every step would lag the demonstrations' pace;
        - the phase, when the scene shows it, or shows the next one while the tool is at this one's
          waypoint: then the expert's own exit test (reference arrived, ``min_steps`` counted) moves on.

        Any other phase the scene shows is entered at once, and there the scene alone (the gripper's
        state for grasp and release), not a count of steps, says when it is over.
        """
        self.phases = self.plan()
        scene = next((i for i in reversed(range(len(self.phases))) if self.phases[i].when and self.phases[i].when()), 0)
        tool = self.robot.tool_position()
        lead = self.reference - tool
        distance = float(np.linalg.norm(lead))
        following = 0 <= self.index < len(self.phases) and distance <= MAX_LEAD
        self.reference = tool + lead * min(1.0, MAX_LEAD / max(distance, 1e-9))
        measured = tool_yaw(self.sim, self.robot)
        if abs((self.yaw - measured + np.pi) % (2 * np.pi) - np.pi) > YAW_SLACK:
            self.yaw = measured
        if scene == self.index or (following and scene == self.index + 1 and self.at_waypoint()):
            return
        self.go_to(scene)
        self.steps_in_phase = self.phases[scene].min_steps

    def at_waypoint(self) -> bool:
        """The tool is at the current phase's waypoint, within twice its tolerance."""
        phase = self.phases[self.index]
        return self.near(phase.waypoint(), 2 * phase.tolerance)

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

    # -- waypoints for subclasses ---------------------------------------------------------
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

    # -- what the scene shows, for the phases' ``when`` ---------------------------------------
    def near(self, point: np.ndarray, distance: float) -> bool:
        """The tool is within ``distance`` metres of ``point``."""
        return bool(np.linalg.norm(self.robot.tool_position() - point) < distance)

    def over(self, body: str, distance: float) -> bool:
        """The tool is within ``distance`` metres of ``body`` horizontally, at any height."""
        return bool(np.linalg.norm((self.robot.tool_position() - self.sim.position(body))[:2]) < distance)

    def held(self, cube: str) -> bool:
        """The jaws have closed on ``cube`` and squeeze it."""
        return pinched(self.sim, self.robot, cube)

    def released(self, cube: str) -> bool:
        """The jaws are open around ``cube`` (or away from it) and do not touch it."""
        return jaw_gap(self.robot) > self.task.sizes[cube] + JAW_CLEARANCE and not self.robot.touches(cube)

    def lies_on(self, cube: str, target: str, radius: float) -> bool:
        """``cube`` is within ``radius`` metres of ``target`` horizontally: letting go there puts it in place."""
        return bool(np.linalg.norm((self.sim.position(cube) - self.sim.position(target))[:2]) < radius)

    # -- phases for subclasses ------------------------------------------------------------
    def pick(self, cube: str) -> list[Phase]:
        """Approach from above, descend, close on the cube, lift it clear of the table."""
        size, closed = self.task.sizes[cube], self.grip(cube)

        def ready_to_descend() -> bool:
            low_enough = self.robot.tool_position()[2] < self.sim.position(cube)[2] + APPROACH_HEIGHT + ABOVE
            return self.over(cube, ABOVE) and low_enough and self.released(cube)

        return [
            Phase("approach", self.above(cube, APPROACH_HEIGHT), yaw=self.cube_yaw(cube)),
            Phase("descend", self.above(cube, GRASP_DEPTH), yaw=self.cube_yaw(cube), tolerance=0.006, speed=0.2,
                  when=ready_to_descend),
            Phase("grasp", self.lift(size / 2 + GRASP_DEPTH), closed=closed, tolerance=0.02, min_steps=GRASP_STEPS,
                  perturbable=False, when=lambda: self.near(self.above(cube, GRASP_DEPTH)(), GRASP_REACH)),
            Phase("lift", self.lift(CARRY_HEIGHT), closed=closed, tolerance=0.02, when=lambda: self.held(cube)),
        ]

    def place(self, cube: str, target: str, height: float, placed: Callable[[], bool], tolerance: float,
              speed: float = TOOL_SPEED) -> list[Phase]:
        """Carry the held cube over ``target``, lower it to ``height`` above it, let go and back away upwards.

        ``placed()`` says the cube lies where letting go leaves it in place; ``tolerance`` and ``speed`` are
        the lowering's.
        """
        closed = self.grip(cube)
        drop = self.above(target, height)
        return [
            Phase("carry", self.above(target, CARRY_HEIGHT), closed=closed, tolerance=0.02,
                  when=lambda: self.held(cube) and self.robot.tool_position()[2] > CARRY_HEIGHT - HEIGHT_SLACK),
            Phase("lower", drop, closed=closed, tolerance=tolerance, speed=speed,
                  when=lambda: self.held(cube) and self.over(target, OVER)),
            Phase("release", drop, closed=0.0, tolerance=0.02, min_steps=RELEASE_STEPS, perturbable=False,
                  when=lambda: placed() and self.near(drop(), RELEASE_REACH)),
            Phase("retreat", self.lift(CARRY_HEIGHT + 0.05), tolerance=0.02, perturbable=False,
                  when=lambda: placed() and self.released(cube)),
        ]
