"""What the supervisor enforces: per-joint limits and the safety configuration, loadable from YAML.

Joint units are radians (revolute) or metres (prismatic), per second and per second
squared; positions of the tool point are metres in the robot base frame (the root link
of the URDF: x forward, z up, the table top at z = 0 in the simulator).

Position and velocity limits are read from the robot's URDF. URDFs carry no acceleration
limits, so ``ACCELERATIONS`` holds them per robot, from the makers' documents.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field, fields

import numpy as np

from robostral.safety.urdf import read_joints, urdf_path
from sim.robots import DEFAULT_ROBOT, robot_spec

# Maximum joint accelerations by robot and joint name, rad/s^2 (m/s^2 for prismatic joints).
ACCELERATIONS: dict[str, dict[str, float]] = {
    # Franka Emika, "Robot and interface specifications": ddq_max of joints 1-7. The hand's limit
    # is not published: 1 m/s^2 brings a finger to its URDF speed (0.2 m/s) in 0.2 s.
    "panda": {
        "panda_joint1": 15.0,
        "panda_joint2": 7.5,
        "panda_joint3": 10.0,
        "panda_joint4": 12.5,
        "panda_joint5": 15.0,
        "panda_joint6": 20.0,
        "panda_joint7": 20.0,
        "panda_finger_joint1": 1.0,
    },
    # UFACTORY xArm: the controller allows 20 rad/s^2 (1145.9 deg/s^2) per joint; half of it here.
    # The gripper drive: 10 rad/s^2, as in xarm_ros2's MoveIt joint_limits.yaml for the xArm6.
    "xarm6": {**{f"joint{i}": 10.0 for i in range(1, 7)}, "drive_joint": 10.0},
}


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
            if self.max_velocity[i] <= 0 or self.max_acceleration[i] <= 0 or self.margin[i] < 0:
                raise ValueError(f"JointLimits of {name}: velocity and acceleration must be > 0, margin >= 0")
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


def robot_limits(robot: str, *, position_margin: float, gripper_margin: float) -> JointLimits:
    """Limits of a known robot from its URDF and ``ACCELERATIONS``, in ``sim.robots.Robot.joint_names`` order.

    ``position_margin`` (rad or m) is kept from each arm joint's limits, ``gripper_margin`` from the gripper's.
    """
    spec = robot_spec(robot)
    joints = read_joints(urdf_path(spec))
    names = (*spec.arm_joints, spec.gripper_joints[0])
    missing = [name for name in names if joints[name].velocity is None or joints[name].lower is None]
    if missing:
        raise ValueError(f"{spec.urdf}: joint(s) {', '.join(missing)} have no position or velocity limit")
    return JointLimits(
        names=names,
        lower=tuple(joints[name].lower for name in names),
        upper=tuple(joints[name].upper for name in names),
        max_velocity=tuple(joints[name].velocity for name in names),
        max_acceleration=tuple(ACCELERATIONS[robot][name] for name in names),
        margin=(position_margin,) * len(spec.arm_joints) + (gripper_margin,),
    )


@dataclass(frozen=True)
class WorkspaceBox:
    """An axis-aligned box the tool point must stay in: metres, robot base frame."""

    low: tuple[float, float, float] = (-0.85, -0.85, 0.005)  # 5 mm above the table
    high: tuple[float, float, float] = (0.85, 0.85, 1.2)

    def __post_init__(self) -> None:
        object.__setattr__(self, "low", tuple(self.low))  # YAML gives lists
        object.__setattr__(self, "high", tuple(self.high))
        if len(self.low) != 3 or len(self.high) != 3:
            raise ValueError(f"WorkspaceBox.low and high must be 3 numbers (x, y, z), got {self.low}, {self.high}")
        if not all(math.isfinite(a) and math.isfinite(b) and a < b for a, b in zip(self.low, self.high)):
            raise ValueError(
                f"WorkspaceBox.low must be finite and below high on each axis, got {self.low}, {self.high}"
            )

    def contains(self, points: np.ndarray) -> np.ndarray:
        """Whether each point of ``points`` (..., 3) lies in the box, borders included."""
        return np.all((points >= self.low) & (points <= self.high), axis=-1)


_POSITIVE = ("manual_tool_speed", "watchdog_timeout", "stop_deceleration", "stop_step", "sample_step",
             "state_velocity_factor", "tracking_tolerance", "state_stale_after")
_NON_NEGATIVE = ("position_margin", "gripper_margin", "state_limit_tolerance", "state_jump_tolerance",
                 "state_stamp_tolerance")


@dataclass(frozen=True)
class SafetyConfig:
    """The supervisor's settings; each default is the value used unless YAML or a parameter overrides it."""

    robot: str = DEFAULT_ROBOT
    position_margin: float = 0.05  # rad, kept from both ends of each arm joint's URDF range
    gripper_margin: float = 0.0  # gripper joint units; 0 keeps fully open and fully closed commandable
    workspace: WorkspaceBox = field(default_factory=WorkspaceBox)
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
        robot_spec(self.robot)  # a clear error names the known robots
        for name in (*_NON_NEGATIVE, *_POSITIVE):
            value = getattr(self, name)
            number = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
            if not number or value < 0 or (value == 0 and name in _POSITIVE):
                bound = "> 0" if name in _POSITIVE else ">= 0"
                raise ValueError(f"SafetyConfig.{name} must be a finite number {bound}, got {value!r}")
        if self.stop_deceleration > 1.0:
            raise ValueError(f"SafetyConfig.stop_deceleration must be in (0, 1], got {self.stop_deceleration}")

    def joint_limits(self) -> JointLimits:
        """The robot's limits with this config's margins."""
        return robot_limits(self.robot, position_margin=self.position_margin, gripper_margin=self.gripper_margin)
