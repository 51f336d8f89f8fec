"""What the supervisor enforces: per-joint limits and the safety configuration, loadable from YAML.

Joint units are radians (revolute) or metres (prismatic), per second and per second
squared; positions of the tool point are metres in the robot base frame (the root link
of the URDF: x forward, z up, the table top at z = 0 in the simulator).

The limits and the workspace box are the robot description's (``robots``): position and
velocity from its URDF, acceleration and jerk from the description.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, fields

import numpy as np

from robots import DEFAULT_ROBOT, RobotDescription, Workspace, load_robot


@dataclass(frozen=True)
class JointLimits:
    """Limits of the joints one robot command carries: the arm joints then the gripper's driving joint.

    The commanded range of joint ``i`` is ``[lower[i] + margin[i], upper[i] - margin[i]]``.
    """

    names: tuple[str, ...]
    lower: tuple[float, ...]
    upper: tuple[float, ...]
    max_velocity: tuple[float, ...]
    max_acceleration: tuple[float, ...]
    max_jerk: tuple[float, ...]
    margin: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(set(self.names)) != len(self.names) or len(self.names) < 2:
            raise ValueError(f"JointLimits.names must be 2 or more distinct names, got {self.names}")
        for f in fields(self)[1:]:
            values = getattr(self, f.name)
            if len(values) != len(self.names):
                raise ValueError(f"JointLimits.{f.name} has {len(values)} values for {len(self.names)} joints")
            for name, value in zip(self.names, values):
                if not math.isfinite(value):
                    raise ValueError(f"JointLimits.{f.name} of {name} must be finite, got {value!r}")
        for i, name in enumerate(self.names):
            rates = (self.max_velocity[i], self.max_acceleration[i], self.max_jerk[i])
            if min(rates) <= 0 or self.margin[i] < 0:
                raise ValueError(f"JointLimits of {name}: velocity, acceleration and jerk must be > 0, margin >= 0")
            if self.lower[i] + self.margin[i] > self.upper[i] - self.margin[i]:
                bounds = f"[{self.lower[i]}, {self.upper[i]}]"
                raise ValueError(f"JointLimits of {name}: margin {self.margin[i]} leaves nothing of {bounds}")

    @property
    def low(self) -> np.ndarray:
        """Lowest commandable positions: the lower limits plus the margins."""
        return np.asarray(self.lower) + np.asarray(self.margin)

    @property
    def high(self) -> np.ndarray:
        """Highest commandable positions: the upper limits minus the margins."""
        return np.asarray(self.upper) - np.asarray(self.margin)

    @property
    def arm_names(self) -> tuple[str, ...]:
        return self.names[:-1]

    @property
    def gripper_name(self) -> str:
        return self.names[-1]

    @property
    def groups(self) -> tuple[tuple[str, ...], ...]:
        """The joint sets a command may carry: everything, the arm (arm controller), the gripper alone."""
        return (self.names, self.arm_names, (self.gripper_name,))


def robot_limits(robot: RobotDescription, *, position_margin: float, gripper_margin: float) -> JointLimits:
    """Limits of the commanded joints of ``robot`` (arm joints then the gripper's drive).

    ``position_margin`` (rad or m) is kept from each arm joint's limits, ``gripper_margin`` from the gripper's.
    """
    return JointLimits(
        names=robot.joint_names,
        lower=tuple(joint.lower for joint in robot.joints),
        upper=tuple(joint.upper for joint in robot.joints),
        max_velocity=tuple(joint.velocity for joint in robot.joints),
        max_acceleration=tuple(joint.acceleration for joint in robot.joints),
        max_jerk=tuple(joint.jerk for joint in robot.joints),
        margin=(position_margin,) * len(robot.arm_joints) + (gripper_margin,),
    )


_POSITIVE = ("manual_tool_speed", "watchdog_timeout", "stop_deceleration", "stop_step", "sample_step",
             "state_velocity_factor", "tracking_tolerance", "state_stale_after")
_NON_NEGATIVE = ("position_margin", "gripper_margin", "state_limit_tolerance", "state_jump_tolerance",
                 "state_stamp_tolerance")


@dataclass(frozen=True)
class SafetyConfig:
    """The supervisor's settings; each default is the value used unless YAML or a parameter overrides it."""

    robot: str = DEFAULT_ROBOT  # a shipped arm's name, or the path of a description file (cell.yaml)
    position_margin: float = 0.05  # rad, kept from both ends of each arm joint's URDF range
    gripper_margin: float = 0.0  # gripper joint units; 0 keeps fully open and fully closed commandable
    workspace: Workspace | None = None  # the box the tool point stays in; None: the robot description's
    manual_tool_speed: float = 0.25  # m/s, the tool speed cap in manual mode (ISO 10218 reduced speed)
    watchdog_timeout: float = 0.5  # s without a command while active before the arm holds
    stop_deceleration: float = 1.0  # fraction of each joint's max acceleration a controlled stop uses
    stop_step: float = 0.02  # s between the points of a controlled stop
    sample_step: float = 0.02  # rad (or m), joint-space spacing of the tool-point checks between points
    # What a believable joint state is (robostral.safety.plausibility; each a choice, not a maker's figure):
    state_limit_tolerance: float = 0.02  # rad (or m) past a URDF limit a reading may be: encoder noise, overshoot
    # |velocity| up to this multiple of the URDF limit: a Panda finger closing on a cube reads 1.8x in the sim
    state_velocity_factor: float = 3.0
    state_jump_tolerance: float = 0.05  # rad (or m) between readings beyond what that velocity allows
    tracking_tolerance: float = 0.5  # rad (or m), an arm joint's distance from where the supervisor commanded it
    state_stamp_tolerance: float = 0.25  # s a stamp may lie ahead of the supervisor's clock (clock skew)
    state_stale_after: float = 0.5  # s: an older joint state is no basis for a check (dropped, not a fault)

    def __post_init__(self) -> None:
        description = self.description  # a RobotError names the known robots, or what is wrong with the file
        if self.workspace is None:
            object.__setattr__(self, "workspace", description.workspace)
        for name in (*_NON_NEGATIVE, *_POSITIVE):
            value = getattr(self, name)
            number = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
            if not number or value < 0 or (value == 0 and name in _POSITIVE):
                bound = "> 0" if name in _POSITIVE else ">= 0"
                raise ValueError(f"SafetyConfig.{name} must be a finite number {bound}, got {value!r}")
        if self.stop_deceleration > 1.0:
            raise ValueError(f"SafetyConfig.stop_deceleration must be in (0, 1], got {self.stop_deceleration}")

    @property
    def description(self) -> RobotDescription:
        """The robot's description (joints, limits, tool, workspace)."""
        return load_robot(self.robot)

    def joint_limits(self) -> JointLimits:
        """The robot's limits with this config's margins."""
        return robot_limits(self.description, position_margin=self.position_margin,
                            gripper_margin=self.gripper_margin)
