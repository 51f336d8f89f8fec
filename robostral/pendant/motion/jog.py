"""Jogging: per-joint and Cartesian (the tool point along x, y, z of the base or the tool frame) moves.

A step jog moves one step (0.1, 1, 5 or 10 mm or degrees) as a timed path. A held jog is a
``JogMotion`` streamed while the operator holds the button (in a ``streaming.HeldMotion``: it stops
when the page's heartbeats stop). Cartesian jogging keeps the tool's orientation (damped least
squares on the full 6-D Jacobian), so a tool-frame jog, which moves along the tool's axes as they
point when it starts, moves along the tool's current axes all the way, as a KUKA or ABB pendant's
tool jog does. Both frames take the same path, speeds and checks: only the line's direction differs.
Speeds are scaled by the user's role (``roles.JOG_SPEED_LIMIT``) and kept under the supervisor's
manual-mode tool speed cap.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from robostral.pendant.errors import BadRequest
from robostral.pendant.motion.ik import ToolFrame, Unreachable, damped_least_squares, rotation_error

STEPS = (0.1, 1.0, 5.0, 10.0)  # mm (Cartesian) or degrees (joint)
AXES = ("x", "y", "z")
FRAMES = ("base", "tool")  # the frames whose axes a Cartesian jog moves along
LINE_STEP = 0.002  # m between the IK samples of a Cartesian step


@dataclasses.dataclass(frozen=True)
class JogConfig:
    joint_speed: float = 0.25  # fraction of each joint's max velocity at full jog speed
    tool_speed: float = 0.8  # Cartesian jog at full jog speed, as a fraction of the manual-mode tool speed cap
    cap_margin: float = 0.9  # no jog moves the tool faster than this fraction of the cap
    ramp: float = 0.25  # s from rest to full jog speed
    correction_gain: float = 5.0  # 1/s: how fast a Cartesian jog corrects drift off its line and orientation

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"JogConfig.{field.name} must be a number > 0, got {value!r}")


@dataclasses.dataclass(frozen=True)
class JogCommand:
    """Which way to jog: ``axis`` is a joint index (mode 'joint') or 0, 1, 2 for x, y, z (mode 'cartesian').

    ``frame`` ('base' or 'tool') is whose x, y, z a Cartesian jog moves along; a joint jog has 'base'.
    """

    mode: str
    axis: int
    direction: int  # +1 or -1
    frame: str = "base"

    @classmethod
    def parse(cls, body: dict, joints: int) -> JogCommand:
        """From ``{"mode": "joint" | "cartesian", "axis": 0..joints-1 | "x" | "y" | "z", "direction": 1 | -1}``.

        A Cartesian jog may add ``"frame": "base" | "tool"`` (default 'base'); a joint jog has no frame.
        """
        mode, axis, direction = body.get("mode"), body.get("axis"), body.get("direction")
        frame = body.get("frame", "base")
        if mode == "joint":
            if not isinstance(axis, int) or isinstance(axis, bool) or not 0 <= axis < joints:
                raise BadRequest(f"axis must be a joint index 0 to {joints - 1} for a joint jog; got {axis!r:.40}")
            if "frame" in body:
                raise BadRequest("frame is for Cartesian jogs only: a joint jog has none")
        elif mode == "cartesian":
            if axis not in AXES:
                raise BadRequest(f"axis must be 'x', 'y' or 'z' for a Cartesian jog; got {axis!r:.40}")
            axis = AXES.index(axis)
            if frame not in FRAMES:
                raise BadRequest(f"frame must be 'base' or 'tool' for a Cartesian jog; got {frame!r:.40}")
        else:
            raise BadRequest(f"mode must be 'joint' or 'cartesian'; got {mode!r:.40}")
        if direction not in (1, -1) or isinstance(direction, bool):
            raise BadRequest(f"direction must be 1 or -1; got {direction!r:.40}")
        return cls(mode, axis, direction, frame)

    def line(self, rotation: np.ndarray) -> np.ndarray:
        """The unit vector (base frame) a Cartesian jog moves the tool along, from the tool's ``rotation`` (3x3).

        In the tool frame it is the tool's axis (a column of ``rotation``), else the base frame's axis.
        """
        axes = np.asarray(rotation, dtype=np.float64) if self.frame == "tool" else np.eye(3)
        return self.direction * axes[:, self.axis]


def parse_step(value: object) -> float:
    if value not in STEPS or isinstance(value, bool):
        raise BadRequest(f"step must be one of {', '.join(f'{s:g}' for s in STEPS)} (mm or degrees); got {value!r:.40}")
    return float(value)


def step_rows(command: JogCommand, step: float, q: np.ndarray, frame: ToolFrame) -> np.ndarray:
    """The path (rows of arm joint positions, from ``q``) of one jog step of ``step`` mm or degrees."""
    q = np.asarray(q, dtype=np.float64)
    if command.mode == "joint":
        target = q.copy()
        target[command.axis] += command.direction * math.radians(step)
        target = np.clip(target, frame.lower, frame.upper)
        if abs(target[command.axis] - q[command.axis]) < 1e-9:
            raise Unreachable(f"joint {command.axis + 1} is at its limit: jog the other way")
        return np.vstack([q, target])
    position, rotation = frame.pose(q)
    goal = position + step / 1000.0 * command.line(rotation)
    end = frame.solve(q, goal, rotation)
    return np.vstack([q, frame.line(q, end, LINE_STEP)])


class JogMotion:
    """A jog that goes on until stopped: the reference moves at jog speed (a ``streaming.Motion``)."""

    def __init__(self, command: JogCommand, joint_names: tuple[str, ...], q: np.ndarray, frame: ToolFrame,
                 max_velocity: np.ndarray, tool_speed_cap: float, speed: float, config: JogConfig) -> None:
        """``tool_speed_cap``: the supervisor's manual-mode cap (m/s); ``speed``: the role's jog speed fraction."""
        self.command, self.joint_names, self.frame, self.config = command, tuple(joint_names), frame, config
        self.max_velocity = np.asarray(max_velocity, dtype=np.float64)
        self.tool_speed_cap = config.cap_margin * tool_speed_cap
        self.speed = speed  # the role's fraction of full jog speed
        self.q = np.clip(np.asarray(q, dtype=np.float64), frame.lower, frame.upper)
        self.velocity = np.zeros_like(self.q)
        self.position, self.rotation = frame.pose(self.q)  # a Cartesian jog keeps to this line and orientation
        self.elapsed = 0.0

    def advance(self, dt: float, now: float) -> str:
        self.elapsed += dt
        ramp = min(1.0, self.elapsed / self.config.ramp)
        velocity = self._joint_velocity(ramp * self.speed)
        target = np.clip(self.q + velocity * dt, self.frame.lower, self.frame.upper)
        self.velocity = (target - self.q) / dt
        self.q = target
        return ""

    def reference(self) -> np.ndarray:
        return self.q

    def ahead(self, offsets: np.ndarray) -> np.ndarray:
        return np.clip(self.q + offsets[:, None] * self.velocity, self.frame.lower, self.frame.upper)

    def _joint_velocity(self, fraction: float) -> np.ndarray:
        """Joint velocities for this tick at ``fraction`` of full jog speed, within the joint and tool bounds."""
        config, command = self.config, self.command
        jacobian = self.frame.jacobian(self.q)
        if command.mode == "joint":
            velocity = np.zeros_like(self.q)
            velocity[command.axis] = command.direction * fraction * config.joint_speed * self.max_velocity[command.axis]
        else:
            line = command.line(self.rotation)  # the start's axes: the jog keeps the tool's orientation
            linear = fraction * config.tool_speed * self.tool_speed_cap * line
            position, rotation = self.frame.pose(self.q)
            drift = self.position - position
            drift -= (drift @ line) * line  # off the line only
            linear = linear + config.correction_gain * drift
            angular = config.correction_gain * rotation_error(self.rotation, rotation)
            velocity = damped_least_squares(jacobian, np.concatenate([linear, angular]), self.frame.config.damping)
        tool_speed = float(np.linalg.norm(jacobian[:3] @ velocity))
        scale = min(1.0, self.tool_speed_cap / max(tool_speed, 1e-12),
                    float(np.min(0.9 * self.max_velocity / np.maximum(np.abs(velocity), 1e-12))))
        return velocity * scale
