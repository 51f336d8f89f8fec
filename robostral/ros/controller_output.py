"""Where the safety supervisor's checked motion goes: the controllers' trajectory topics, or their actions.

``topic`` (the default): a ``JointTrajectory`` on ``/arm_controller/joint_trajectory`` and
``/gripper_controller/joint_trajectory``, joint_trajectory_controller's topic interface: fire and
forget. ``action``: a ``FollowJointTrajectory`` goal to the arm controller and a ``GripperCommand``
goal to the gripper controller (ros2_control's action interfaces; ``control_msgs`` is built by
``make interfaces``). Every command is a new goal that preempts the last; the controller's verdict
on the latest one is what counts: a goal it rejects, or aborts (a path or goal tolerance violated),
or an action server that is not there, is a problem the supervisor latches as a fault. A gripper
goal carries the drive joint's last commanded position (``gripper_action_controller`` commands
that joint) and ``max_effort`` (0: the controller's own limit).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from builtin_interfaces.msg import Time
from rclpy.node import Node
from trajectory_msgs.msg import JointTrajectory

from robostral.ros import contract
from robostral.ros.messages import trajectory_msg

INTERFACES = ("topic", "action")


class TopicOutput:
    """joint_trajectory_controller's topics."""

    def __init__(self, node: Node) -> None:
        self.arm_topic = node.create_publisher(JointTrajectory, contract.ARM_TRAJECTORY, contract.CONTROLLER_QOS)
        self.gripper_topic = node.create_publisher(JointTrajectory, contract.GRIPPER_TRAJECTORY,
                                                   contract.CONTROLLER_QOS)

    def arm(self, names: Sequence[str], positions: np.ndarray, times: Sequence[float], velocities: np.ndarray,
            accelerations: np.ndarray, stamp: Time) -> str:
        """Send the arm its part of a command; why it could not be sent ("" when it was)."""
        self.arm_topic.publish(trajectory_msg(names, positions, times, stamp, velocities, accelerations))
        return ""

    def gripper(self, names: Sequence[str], positions: np.ndarray, times: Sequence[float], velocities: np.ndarray,
                accelerations: np.ndarray, stamp: Time) -> str:
        self.gripper_topic.publish(trajectory_msg(names, positions, times, stamp, velocities, accelerations))
        return ""


class ActionOutput:
    """FollowJointTrajectory and GripperCommand clients; ``on_problem(reason)`` hears, later, of a latest goal
    that was rejected or did not succeed (from the node's executor, never from within ``arm`` or ``gripper``)."""

    def __init__(self, node: Node, arm_action: str, gripper_action: str, max_effort: float,
                 on_problem: Callable[[str], None]) -> None:
        from control_msgs.action import FollowJointTrajectory, GripperCommand  # built by `make interfaces`
        from rclpy.action import ActionClient

        self.goal_types = FollowJointTrajectory, GripperCommand
        self.clients = {"arm": ActionClient(node, FollowJointTrajectory, arm_action),
                        "gripper": ActionClient(node, GripperCommand, gripper_action)}
        self.names = {"arm": arm_action, "gripper": gripper_action}
        self.latest = {"arm": 0, "gripper": 0}  # the number of the last goal sent to each
        self.max_effort, self.on_problem = max_effort, on_problem

    def arm(self, names: Sequence[str], positions: np.ndarray, times: Sequence[float], velocities: np.ndarray,
            accelerations: np.ndarray, stamp: Time) -> str:
        goal = self.goal_types[0].Goal(
            trajectory=trajectory_msg(names, positions, times, stamp, velocities, accelerations))
        return self._send("arm", goal)

    def gripper(self, names: Sequence[str], positions: np.ndarray, times: Sequence[float], velocities: np.ndarray,
                accelerations: np.ndarray, stamp: Time) -> str:
        goal = self.goal_types[1].Goal()
        goal.command.position, goal.command.max_effort = float(positions[-1, 0]), self.max_effort
        return self._send("gripper", goal)

    def _send(self, which: str, goal) -> str:
        client, name = self.clients[which], self.names[which]
        if not client.server_is_ready():
            return f"no action server {name}: the controller is not running"
        self.latest[which] += 1
        number = self.latest[which]
        future = client.send_goal_async(goal)
        future.add_done_callback(lambda done: self._accepted(which, number, done.result()))
        return ""

    def _accepted(self, which: str, number: int, handle) -> None:
        if number != self.latest[which]:
            return  # a newer goal has replaced it
        if not handle.accepted:
            self.on_problem(f"{self.names[which]} rejected the goal")
            return
        handle.get_result_async().add_done_callback(lambda done: self._ended(which, number, done.result()))

    def _ended(self, which: str, number: int, response) -> None:
        from action_msgs.msg import GoalStatus

        from robostral.ros.controller_actions import ERROR_NAMES

        result = response.result
        if number != self.latest[which] or response.status == GoalStatus.STATUS_SUCCEEDED:
            return
        if which == "gripper" and result.stalled:
            return  # a gripper closing on an object stalls: that is a grasp, not a fault
        if which == "arm":
            why = ERROR_NAMES.get(result.error_code, f"error {result.error_code}")
            why += f": {result.error_string}" if result.error_string else ""
        else:
            why = f"ended at {result.position:.4g}, short of its goal"
        status = {GoalStatus.STATUS_ABORTED: "aborted", GoalStatus.STATUS_CANCELED: "canceled"}.get(
            response.status, f"ended with status {response.status}")
        self.on_problem(f"{self.names[which]} {status} the goal ({why})")
