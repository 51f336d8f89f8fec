"""A client of ros2_control's controller actions: FollowJointTrajectory for the arm, GripperCommand for the gripper.

``control_msgs`` has no wheel on PyPI: ``make interfaces`` builds it from ``third_party/control_msgs`` into
the venv (tools/build_interfaces.sh). The action names are ros2_control's defaults:
``/<controller>/follow_joint_trajectory`` (joint_trajectory_controller) and ``/<controller>/gripper_cmd``
(gripper_action_controller, parallel_gripper_controller).

The node given to ``ControllerActions`` must be spun by an executor in another thread: every call here waits
on futures that executor completes, each with a deadline, and says what it waited for when one passes.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from action_msgs.msg import GoalStatus
from control_msgs.action import FollowJointTrajectory, GripperCommand
from control_msgs.msg import JointTolerance
from rclpy.action import ActionClient
from rclpy.node import Node
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from robostral.ros import contract
from robostral.ros.messages import duration

ARM_ACTION, GRIPPER_ACTION = contract.ARM_ACTION, contract.GRIPPER_ACTION

STATUS_NAMES = {GoalStatus.STATUS_SUCCEEDED: "succeeded", GoalStatus.STATUS_ABORTED: "aborted",
                GoalStatus.STATUS_CANCELED: "canceled", GoalStatus.STATUS_UNKNOWN: "unknown"}
ERROR_NAMES = {getattr(FollowJointTrajectory.Result, name): name for name in (
    "SUCCESSFUL", "INVALID_GOAL", "INVALID_JOINTS", "OLD_HEADER_TIMESTAMP", "PATH_TOLERANCE_VIOLATED",
    "GOAL_TOLERANCE_VIOLATED")}


def _rows(name: str, values, shape: tuple[int, int]) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.shape != shape:
        raise ValueError(f"{name} has shape {array.shape}; the trajectory needs {shape} (points x joints)")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} has NaN or infinite values")
    return array


def _tolerances(kind: str, names: Sequence[str], given: Mapping[str, float | Sequence[float]] | None
                ) -> list[JointTolerance]:
    """JointTolerance per joint from {joint: position} or {joint: (position, velocity, acceleration)}."""
    tolerances = []
    for joint, value in (given or {}).items():
        if joint not in names:
            raise ValueError(f"{kind} names joint {joint!r}, which the trajectory does not move ({list(names)})")
        position, velocity, acceleration = ((value, 0.0, 0.0) if np.isscalar(value)
                                            else (*(float(v) for v in value), 0.0, 0.0)[:3])
        for label, number in (("position", position), ("velocity", velocity), ("acceleration", acceleration)):
            if not math.isfinite(number) or (number < 0 and number != -1):
                raise ValueError(f"{kind} {label} of {joint!r} is {number}: 0 (the controller's default), "
                                 "-1 (no limit) or a positive bound")
        tolerances.append(JointTolerance(name=joint, position=float(position), velocity=float(velocity),
                                         acceleration=float(acceleration)))
    return tolerances


def trajectory_goal(names: Sequence[str], positions, times: Sequence[float], velocities=None, accelerations=None,
                    goal_tolerance: Mapping[str, float | Sequence[float]] | None = None,
                    path_tolerance: Mapping[str, float | Sequence[float]] | None = None,
                    goal_time_tolerance: float = 0.0) -> FollowJointTrajectory.Goal:
    """A FollowJointTrajectory goal: one point per row of ``positions`` (points x joints) at ``times`` (s from the
    start, increasing), with optional velocities and accelerations of the same shape; ValueError on anything
    a controller would refuse or misread (duplicate joints, ragged rows, NaN, times not increasing)."""
    names = list(names)
    if not names or len(set(names)) != len(names) or not all(names):
        raise ValueError(f"joint names must be distinct and non-empty, got {names}")
    times = np.asarray(times, dtype=np.float64)
    if times.ndim != 1 or not len(times):
        raise ValueError(f"times must be a non-empty list of seconds, got {times.tolist()}")
    shape = (len(times), len(names))
    positions = _rows("positions", np.atleast_2d(positions), shape)
    if not np.isfinite(times).all() or times[0] < 0 or (np.diff(times) <= 0).any():
        raise ValueError(f"times must be finite, from 0 on and strictly increasing, got {times.tolist()}")
    velocities = None if velocities is None else _rows("velocities", np.atleast_2d(velocities), shape)
    accelerations = None if accelerations is None else _rows("accelerations", np.atleast_2d(accelerations), shape)
    if not math.isfinite(goal_time_tolerance) or goal_time_tolerance < 0:
        raise ValueError(f"goal_time_tolerance must be >= 0 s, got {goal_time_tolerance}")

    trajectory = JointTrajectory(joint_names=names)  # header stamp 0: the controller starts it on receipt
    for i, t in enumerate(times):
        point = JointTrajectoryPoint(positions=positions[i].tolist(), time_from_start=duration(float(t)))
        if velocities is not None:
            point.velocities = velocities[i].tolist()
        if accelerations is not None:
            point.accelerations = accelerations[i].tolist()
        trajectory.points.append(point)
    return FollowJointTrajectory.Goal(trajectory=trajectory,
                                      goal_tolerance=_tolerances("goal_tolerance", names, goal_tolerance),
                                      path_tolerance=_tolerances("path_tolerance", names, path_tolerance),
                                      goal_time_tolerance=duration(goal_time_tolerance))


@dataclass
class TrajectoryOutcome:
    """How a FollowJointTrajectory goal ended. ``status``: accepted goals end succeeded, aborted or canceled;
    ``rejected`` is a goal the controller refused outright (no result then)."""

    action: str
    status: str
    error_code: int | None = None
    error_string: str = ""
    feedback: list = field(default_factory=list)  # every FollowJointTrajectory.Feedback received

    @property
    def ok(self) -> bool:
        return self.status == "succeeded" and self.error_code == FollowJointTrajectory.Result.SUCCESSFUL

    @property
    def error_name(self) -> str:
        return "" if self.error_code is None else ERROR_NAMES.get(self.error_code, f"error {self.error_code}")

    def worst_errors(self) -> dict[str, float]:
        """|actual - desired| position per joint in the last feedback (what a tolerance error is about)."""
        if not self.feedback:
            return {}
        last = self.feedback[-1]
        return {name: abs(float(e)) for name, e in zip(last.joint_names, last.error.positions)}

    def __str__(self) -> str:
        if self.status == "rejected":
            return f"{self.action}: goal rejected by the controller (wrong joints, or it is not active)"
        text = f"{self.action}: {self.status}, {self.error_name} ({self.error_code})"
        if self.error_string:
            text += f": {self.error_string}"
        if not self.ok and self.worst_errors():
            text += "; last tracking error " + ", ".join(f"{n}={e:.4g}" for n, e in self.worst_errors().items())
        return text


@dataclass
class GripperOutcome:
    action: str
    status: str
    position: float = math.nan
    effort: float = math.nan
    stalled: bool = False
    reached_goal: bool = False
    feedback: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == "succeeded"

    def __str__(self) -> str:
        if self.status == "rejected":
            return f"{self.action}: goal rejected by the controller"
        how = "reached the goal" if self.reached_goal else "stalled" if self.stalled else "did not reach the goal"
        return f"{self.action}: {self.status}, {how} at {self.position:.4g} m with {self.effort:.4g} N"


def _wait(future, timeout: float, what: str):
    done = threading.Event()
    future.add_done_callback(lambda _: done.set())
    if not done.wait(timeout):
        raise TimeoutError(f"not within {timeout:g} s: {what} (is the node spun by an executor?)")
    return future.result()


class ControllerActions:
    """FollowJointTrajectory and GripperCommand clients on ``node`` (spun elsewhere)."""

    def __init__(self, node: Node, arm_action: str = ARM_ACTION, gripper_action: str = GRIPPER_ACTION) -> None:
        self.arm_action, self.gripper_action = arm_action, gripper_action
        self.arm = ActionClient(node, FollowJointTrajectory, arm_action)
        self.gripper = ActionClient(node, GripperCommand, gripper_action)

    def _send(self, client: ActionClient, name: str, goal, timeout: float, server_timeout: float):
        if not client.wait_for_server(timeout_sec=server_timeout):
            raise TimeoutError(f"no action server {name} within {server_timeout:g} s")
        feedback: list = []
        handle = _wait(client.send_goal_async(goal, feedback_callback=lambda m: feedback.append(m.feedback)),
                       server_timeout, f"{name} to accept or reject the goal")
        if not handle.accepted:
            return None, feedback
        response = _wait(handle.get_result_async(), timeout, f"the result of {name}")
        return response, feedback

    def follow(self, goal: FollowJointTrajectory.Goal, timeout: float = 60.0,
               server_timeout: float = 10.0) -> TrajectoryOutcome:
        """Send ``goal`` (see ``trajectory_goal``) and wait for its end, at most ``timeout`` s."""
        response, feedback = self._send(self.arm, self.arm_action, goal, timeout, server_timeout)
        if response is None:
            return TrajectoryOutcome(self.arm_action, "rejected", feedback=feedback)
        return TrajectoryOutcome(self.arm_action, STATUS_NAMES.get(response.status, f"status {response.status}"),
                                 response.result.error_code, response.result.error_string, feedback)

    def grip(self, position: float, max_effort: float = 0.0, timeout: float = 30.0,
             server_timeout: float = 10.0) -> GripperOutcome:
        """Move the gripper to ``position`` (gap, m) with at most ``max_effort`` N (0: the controller's limit)."""
        if not (math.isfinite(position) and math.isfinite(max_effort)):
            raise ValueError(f"gripper position and effort must be finite, got {position}, {max_effort}")
        goal = GripperCommand.Goal()
        goal.command.position, goal.command.max_effort = float(position), float(max_effort)
        response, feedback = self._send(self.gripper, self.gripper_action, goal, timeout, server_timeout)
        if response is None:
            return GripperOutcome(self.gripper_action, "rejected", feedback=feedback)
        result = response.result
        return GripperOutcome(self.gripper_action, STATUS_NAMES.get(response.status, f"status {response.status}"),
                              result.position, result.effort, result.stalled, result.reached_goal, feedback)

    def destroy(self) -> None:
        self.arm.destroy()
        self.gripper.destroy()
