"""control_msgs built by `make interfaces` works over real DDS: the client of robostral.ros.controller_actions
against real rclpy ActionServers (a test controller on a DDS participant of its own, loopback only).

The test controller follows ros2_control's rules where the client can see them: it rejects a goal whose joints
are not its own, sends one feedback per trajectory point, and ends a goal whose final error exceeds the goal
tolerance with GOAL_TOLERANCE_VIOLATED naming the joint; its gripper stalls on an object 20 mm wide.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from control_msgs.action import FollowJointTrajectory, GripperCommand
from rclpy.action import ActionServer, GoalResponse

from robostral.ros.controller_actions import ControllerActions, trajectory_goal
from robostral.ros.messages import seconds
from tests.ros_helpers import Probe, next_domain

JOINTS = ["shoulder", "elbow", "wrist"]
OFFSET = {"shoulder": 0.0, "elbow": 0.02, "wrist": 0.0}  # the test arm's steady error, rad
OBJECT = 0.02  # m: the gripper stalls closing on it


class TestController:
    """FollowJointTrajectory and GripperCommand servers on ``probe``'s node."""

    __test__ = False

    def __init__(self, probe: Probe) -> None:
        self.goals: list = []
        node = probe.node
        self.arm = ActionServer(node, FollowJointTrajectory, "/arm_controller/follow_joint_trajectory",
                                self.follow, goal_callback=self.check)
        self.gripper = ActionServer(node, GripperCommand, "/gripper_controller/gripper_cmd", self.grip)

    def check(self, goal: FollowJointTrajectory.Goal) -> GoalResponse:
        self.goals.append(goal)
        return GoalResponse.ACCEPT if sorted(goal.trajectory.joint_names) == sorted(JOINTS) else GoalResponse.REJECT

    def follow(self, handle) -> FollowJointTrajectory.Result:
        goal, result = handle.request, FollowJointTrajectory.Result()
        names = list(goal.trajectory.joint_names)
        error = [OFFSET[name] for name in names]
        for index, point in enumerate(goal.trajectory.points):
            feedback = FollowJointTrajectory.Feedback(joint_names=names, index=index)
            feedback.desired = point
            feedback.actual.positions = [p + e for p, e in zip(point.positions, error)]
            feedback.error.positions = error
            handle.publish_feedback(feedback)
            time.sleep(0.02)
        for tolerance in goal.goal_tolerance:
            if 0 < tolerance.position < abs(OFFSET[tolerance.name]):
                handle.abort()
                result.error_code = result.GOAL_TOLERANCE_VIOLATED
                result.error_string = (f"{tolerance.name} ended {abs(OFFSET[tolerance.name]):.3f} rad from its goal "
                                       f"(goal tolerance {tolerance.position:.3f})")
                return result
        handle.succeed()
        result.error_code = result.SUCCESSFUL
        return result

    def grip(self, handle) -> GripperCommand.Result:
        command = handle.request.command
        stalled = command.position < OBJECT
        position = max(command.position, OBJECT)
        handle.publish_feedback(GripperCommand.Feedback(position=position, effort=0.0))
        result = GripperCommand.Result(position=position, effort=command.max_effort if stalled else 0.0,
                                       stalled=stalled, reached_goal=not stalled)
        handle.abort() if stalled else handle.succeed()
        return result


@pytest.fixture(scope="module")
def cell():
    domain = next_domain()
    controller_probe, client_probe = Probe(domain, "test_controller"), Probe(domain, "test_client")
    controller = TestController(controller_probe)
    actions = ControllerActions(client_probe.node)
    try:
        yield controller, actions
    finally:
        actions.destroy()
        controller.arm.destroy()
        controller.gripper.destroy()
        client_probe.close()
        controller_probe.close()


def test_trajectory_is_accepted_followed_with_feedback_and_succeeds(cell):
    controller, actions = cell
    positions = np.array([[0.0, 0.1, 0.2], [0.1, 0.2, 0.3], [0.2, 0.3, 0.4]])
    velocities, accelerations = np.full((3, 3), 0.5), np.zeros((3, 3))
    goal = trajectory_goal(JOINTS, positions, [0.5, 1.0, 1.5], velocities, accelerations,
                           goal_tolerance={"elbow": 0.05}, path_tolerance={"shoulder": (0.1, 1.0, -1)},
                           goal_time_tolerance=0.25)
    outcome = actions.follow(goal, timeout=30)
    assert outcome.ok, str(outcome)
    assert (outcome.status, outcome.error_name) == ("succeeded", "SUCCESSFUL")
    assert [f.index for f in outcome.feedback] == [0, 1, 2]
    assert outcome.feedback[-1].actual.positions.tolist() == pytest.approx([0.2, 0.32, 0.4])

    received = controller.goals[-1]  # what crossed DDS, field by field
    assert list(received.trajectory.joint_names) == JOINTS
    assert [p.positions.tolist() for p in received.trajectory.points] == positions.tolist()
    assert [p.velocities.tolist() for p in received.trajectory.points] == velocities.tolist()
    assert [p.accelerations.tolist() for p in received.trajectory.points] == accelerations.tolist()
    assert [seconds(p.time_from_start) for p in received.trajectory.points] == [0.5, 1.0, 1.5]
    assert [(t.name, t.position) for t in received.goal_tolerance] == [("elbow", 0.05)]
    assert [(t.name, t.position, t.velocity, t.acceleration) for t in received.path_tolerance] == [
        ("shoulder", 0.1, 1.0, -1.0)]
    assert seconds(received.goal_time_tolerance) == 0.25


def test_goal_tolerance_violation_is_reported_with_the_joint_and_its_error(cell):
    _, actions = cell
    goal = trajectory_goal(JOINTS, [[0.0, 0.1, 0.2]], [0.5], goal_tolerance={"elbow": 0.01})
    outcome = actions.follow(goal, timeout=30)
    assert not outcome.ok
    assert (outcome.status, outcome.error_code, outcome.error_name) == (
        "aborted", FollowJointTrajectory.Result.GOAL_TOLERANCE_VIOLATED, "GOAL_TOLERANCE_VIOLATED")
    assert outcome.worst_errors() == pytest.approx({"shoulder": 0.0, "elbow": 0.02, "wrist": 0.0})
    text = str(outcome)
    assert "GOAL_TOLERANCE_VIOLATED (-5)" in text and "elbow ended 0.020 rad" in text and "elbow=0.02" in text


def test_goal_for_other_joints_is_rejected(cell):
    _, actions = cell
    outcome = actions.follow(trajectory_goal(["elbow", "knee"], [[0.0, 0.0]], [1.0]), timeout=30)
    assert outcome.status == "rejected" and not outcome.ok and outcome.error_code is None
    assert "goal rejected" in str(outcome)


def test_gripper_reaches_an_open_goal_and_stalls_on_an_object(cell):
    _, actions = cell
    opened = actions.grip(0.08, max_effort=20.0)
    assert opened.ok and opened.reached_goal and not opened.stalled and opened.position == pytest.approx(0.08)
    assert len(opened.feedback) == 1
    closed = actions.grip(0.0, max_effort=20.0)
    assert (closed.status, closed.stalled, closed.reached_goal) == ("aborted", True, False)
    assert closed.position == pytest.approx(OBJECT) and closed.effort == pytest.approx(20.0)
    assert "stalled at 0.02 m with 20 N" in str(closed)


@pytest.mark.parametrize("args, kwargs, message", [
    ((["a", "a"], [[0, 0]], [1]), {}, "distinct"),
    ((["a", "b"], [[0, 0, 0]], [1]), {}, "shape"),
    ((["a", "b"], [[0, float("nan")]], [1]), {}, "NaN"),
    ((["a", "b"], [[0, 0], [1, 1]], [1, 1]), {}, "strictly increasing"),
    ((["a", "b"], [[0, 0]], [1]), {"velocities": [[0, 0], [0, 0]]}, "velocities has shape"),
    ((["a", "b"], [[0, 0]], [1]), {"goal_tolerance": {"c": 0.1}}, "does not move"),
    ((["a", "b"], [[0, 0]], [1]), {"goal_tolerance": {"a": -0.5}}, "-1 (no limit)"),
])
def test_trajectory_goal_refuses_what_a_controller_would_misread(args, kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        trajectory_goal(*args, **kwargs)
