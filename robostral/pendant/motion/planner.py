"""The pendant's motions for one robot, planned and pre-checked with the supervisor's own safety checks.

Every planned move is checked whole with ``robostral.safety.check_trajectory`` under the same
``SafetyConfig`` the supervisor runs, from the current joint state: a move the supervisor would
refuse is refused here first, synchronously, with the supervisor's reason (``Unsafe``, 422). The
supervisor still checks every streamed window. Arm moves command the arm joints only; the gripper
moves alone. Joint states are in the robot's order (arm joints, then the gripper's driving joint).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from robostral.pendant.errors import Unsafe
from robostral.pendant.motion.ik import ToolFrame, Unreachable
from robostral.pendant.motion.jog import JogCommand, JogConfig, JogMotion, step_rows
from robostral.pendant.motion.paths import PathLimits, TimedPath, time_path
from robostral.pendant.motion.streaming import PlannedMotion
from robostral.pendant.programs.document import Move, ProgramDocument, Waypoint
from robostral.safety import Rejected, SafetyConfig, Trajectory, TrajectoryPoint, check_trajectory


@dataclasses.dataclass(frozen=True)
class PlannerConfig:
    period: float = 0.05  # s: the control period the paths are sampled at
    full_tool_speed: float = 1.0  # m/s of the tool at a move's speed 1
    line_step: float = 0.005  # m between the IK samples of a linear move
    gripper_speed: float = 0.5  # fraction of the gripper's max velocity
    jog: JogConfig = dataclasses.field(default_factory=JogConfig)


class Planner:
    def __init__(self, safety: SafetyConfig, config: PlannerConfig = PlannerConfig()) -> None:
        self.safety, self.config = safety, config
        self.limits = safety.joint_limits()
        self.robot = safety.description
        self.kinematics = self.robot.tool_kinematics()
        self.arm = len(self.limits.arm_names)
        self.frame = ToolFrame(self.kinematics, self.limits.low[: self.arm], self.limits.high[: self.arm])

    @property
    def joint_names(self) -> tuple[str, ...]:
        return self.limits.names

    # -- moves --------------------------------------------------------------------------------------
    def move(self, q: np.ndarray, v: np.ndarray, waypoint: Waypoint, mode: str, speed: float, override: float,
             manual: bool) -> PlannedMotion:
        """To ``waypoint`` from the state (``q``, ``v``): a joint move, or a straight tool line (``mode`` linear)."""
        target = self.arm_positions(waypoint)
        start = np.asarray(q, dtype=np.float64)[: self.arm]
        if mode == "linear":
            try:
                rows = np.vstack([start, self.frame.line(start, target, self.config.line_step)])
            except Unreachable as error:
                raise Unsafe(f"linear move to {waypoint.name!r}: {error}") from None
        else:
            rows = np.vstack([start, target])
        path = time_path(rows, self.path_limits(self.limits.arm_names, manual), speed, self.config.period, self.frame)
        self.check(self.limits.arm_names, path, q, v, override, manual, f"move to {waypoint.name!r}")
        return PlannedMotion(self.limits.arm_names, path)

    def gripper(self, q: np.ndarray, v: np.ndarray, command: str, override: float) -> PlannedMotion:
        """Open or close the gripper (its driving joint alone)."""
        goal = self.robot.gripper.open if command == "open" else self.robot.gripper.closed
        names = (self.limits.gripper_name,)
        rows = np.array([[q[-1]], [goal]], dtype=np.float64)
        path = time_path(rows, self.path_limits(names, False), self.config.gripper_speed, self.config.period)
        self.check(names, path, q, v, override, False, f"gripper {command}")
        return PlannedMotion(names, path)

    def step_jog(self, q: np.ndarray, v: np.ndarray, command: JogCommand, step: float, speed: float,
                 override: float) -> PlannedMotion:
        """One jog step of ``step`` mm or degrees at ``speed`` (the role's jog speed fraction), in manual mode."""
        try:
            rows = step_rows(command, step, np.asarray(q, dtype=np.float64)[: self.arm], self.frame)
        except Unreachable as error:
            raise Unsafe(f"jog: {error}") from None
        names = self.limits.arm_names
        path = time_path(rows, self.path_limits(names, True), speed * self.config.jog.joint_speed,
                         self.config.period, self.frame)
        self.check(names, path, q, v, override, True, "jog")
        return PlannedMotion(names, path)

    def jog(self, q: np.ndarray, command: JogCommand, speed: float) -> JogMotion:
        """A jog from ``q`` at ``speed`` (the role's jog speed fraction) until stopped, in manual mode."""
        return JogMotion(command, self.limits.arm_names, np.asarray(q, dtype=np.float64)[: self.arm], self.frame,
                         np.asarray(self.limits.max_velocity[: self.arm]), self.safety.manual_tool_speed, speed,
                         self.config.jog)

    # -- checks ---------------------------------------------------------------------------------------
    def check_pose(self, waypoint: Waypoint) -> None:
        """Unsafe unless the waypoint's pose is within the joint limits and its tool point in the workspace."""
        target = self.arm_positions(waypoint)
        q = np.append(target, self.robot.gripper.open)
        verdict = check_trajectory(Trajectory(self.limits.arm_names, [TrajectoryPoint(tuple(target), 1.0)]),
                                   q, np.zeros_like(q), limits=self.limits, kinematics=self.kinematics,
                                   config=self.safety)
        if isinstance(verdict, Rejected):
            raise Unsafe(f"waypoint {waypoint.name!r} refused by the safety checks: {verdict.reason}")

    def check_program(self, document: ProgramDocument, q: np.ndarray, v: np.ndarray, override: float) -> None:
        """Unsafe naming the first move step the supervisor would refuse, each move from where the one before ends."""
        q, v = np.asarray(q, dtype=np.float64).copy(), np.asarray(v, dtype=np.float64)
        for i, step in enumerate(document.program.steps):
            if isinstance(step, Move):
                try:
                    self.move(q, v, document.waypoints[step.waypoint], step.mode, step.speed, max(override, 0.01),
                              False)
                except Unsafe as error:
                    raise Unsafe(f"step {i + 1}: {error}") from None
                q[: self.arm], v = self.arm_positions(document.waypoints[step.waypoint]), np.zeros_like(v)

    def check(self, names: tuple[str, ...], path: TimedPath, q: np.ndarray, v: np.ndarray, override: float,
              manual: bool, what: str) -> None:
        points = [TrajectoryPoint(tuple(row), float(t)) for row, t in zip(path.positions[1:], path.times[1:])]
        verdict = check_trajectory(Trajectory(names, points), q, v, limits=self.limits, kinematics=self.kinematics,
                                   config=self.safety, speed_override=override,
                                   tool_speed_cap=self.safety.manual_tool_speed if manual else None)
        if isinstance(verdict, Rejected):
            raise Unsafe(f"{what} refused by the safety checks: {verdict.reason}")

    # -- helpers ------------------------------------------------------------------------------------
    def arm_positions(self, waypoint: Waypoint) -> np.ndarray:
        """The waypoint's arm joint positions in the robot's order (its gripper entry, if any, is not used)."""
        missing = [name for name in self.limits.arm_names if name not in waypoint.joints]
        unknown = sorted(set(waypoint.joints) - set(self.limits.names))
        if missing or unknown:
            raise Unsafe(f"waypoint {waypoint.name!r} does not fit this {self.safety.robot}: it needs the joints "
                         f"{', '.join(self.limits.arm_names)}" + (f"; unknown {', '.join(unknown)}" if unknown else ""))
        return np.array([waypoint.joints[name] for name in self.limits.arm_names], dtype=np.float64)

    def path_limits(self, names: tuple[str, ...], manual: bool) -> PathLimits:
        index = [self.limits.names.index(name) for name in names]
        cap = self.config.jog.cap_margin * self.safety.manual_tool_speed if manual else None
        return PathLimits(np.asarray(self.limits.max_velocity)[index], np.asarray(self.limits.max_acceleration)[index],
                          self.config.full_tool_speed, cap)
