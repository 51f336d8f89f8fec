"""The supervisor driving controllers through their actions (controller_interface: action), over real DDS.

A stand-in controller serves FollowJointTrajectory and GripperCommand under ros2_control's default names and
publishes the arm at rest; the supervisor's checked, jerk-limited motion arrives as goals. A goal the
controller aborts, or a controller that is not there, latches a fault that says so.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from control_msgs.action import FollowJointTrajectory, GripperCommand
from rclpy.action import ActionServer
from rclpy.publisher import Publisher
from ros_helpers import Probe, RosProcess, Topic, next_domain, wait_until
from sensor_msgs.msg import JointState
from std_msgs.msg import String
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

from robostral.ros import contract
from robostral.ros.messages import joint_state_msg, trajectory_msg
from robostral.safety import SafetyConfig

CONFIG = SafetyConfig()  # the Panda
LIMITS = CONFIG.joint_limits()
HOME = CONFIG.description.home_positions


class StandInController:
    """The arm's and the gripper's action servers on ``probe``'s node; ``abort`` makes the next arm goals fail."""

    def __init__(self, probe: Probe) -> None:
        self.arm_goals: list[FollowJointTrajectory.Goal] = []
        self.gripper_goals: list[GripperCommand.Goal] = []
        self.abort = False
        self.servers = [ActionServer(probe.node, FollowJointTrajectory, contract.ARM_ACTION, self.follow),
                        ActionServer(probe.node, GripperCommand, contract.GRIPPER_ACTION, self.grip)]

    def follow(self, handle) -> FollowJointTrajectory.Result:
        self.arm_goals.append(handle.request)
        result = FollowJointTrajectory.Result()
        if self.abort:
            handle.abort()
            result.error_code = result.GOAL_TOLERANCE_VIOLATED
            result.error_string = "panda_joint4 ended 0.031 rad from its goal"
        else:
            handle.succeed()
        return result

    def grip(self, handle) -> GripperCommand.Result:
        self.gripper_goals.append(handle.request)
        handle.succeed()
        return GripperCommand.Result(position=handle.request.command.position, reached_goal=True)


@contextlib.contextmanager
def supervised(log: Path, **parameters) -> Iterator[tuple[StandInController, Topic, Publisher]]:
    """A supervisor with ``controller_interface: action`` (and ``parameters``), reset, the arm at rest on
    /joint_states, the stand-in controller's servers up before it: the controller, the supervisor's latched
    state and a publisher of policy commands."""
    domain = next_domain()
    probe = Probe(domain)
    controller = StandInController(probe)
    supervisor = RosProcess.node("supervisor", {"controller_interface": "action", **parameters}, domain, log,
                                 name="safety_supervisor")
    state = probe.record(contract.SUPERVISOR_STATE, String, contract.LATCHED_QOS)
    states = probe.publisher(contract.JOINT_STATES, JointState, contract.JOINT_STATES_QOS)  # the supervisor hears it
    publish = lambda: states.publish(joint_state_msg(LIMITS.names, HOME, np.zeros(len(HOME)),  # noqa: E731
                                                     probe.node.get_clock().now().to_msg()))
    try:
        with probe.every(0.02, publish):
            supervisor.wait_for_output("latched until an engineer's reset", timeout=60)
            wait_until(lambda: probe.call(contract.RESET, Trigger).success, 20, "the supervisor reset")
            time.sleep(0.2)  # ten joint states at rest on a matched publisher: the supervisor believes one
            yield controller, state, probe.publisher(contract.POLICY_TRAJECTORY, JointTrajectory,
                                                     contract.POLICY_TRAJECTORY_QOS)
    finally:
        supervisor.stop()
        for server in controller.servers:
            server.destroy()
        probe.close()


@pytest.fixture
def cell(tmp_path):
    with supervised(tmp_path / "supervisor.log") as (controller, state, commands):
        yield controller, commands, state


def nudge(commands, names=LIMITS.names, joint: int = 0, by: float = 0.02) -> None:
    """A policy-like chunk moving one joint ``by`` from home over 10 points, 50 ms apart."""
    steps = np.arange(1, 11)
    targets = np.tile(HOME[[LIMITS.names.index(n) for n in names]], (10, 1))
    targets[:, joint] += by * steps / 10
    commands.publish(trajectory_msg(names, targets, steps * 0.05))


def test_a_command_reaches_the_controllers_as_goals_with_velocities_and_accelerations(cell):
    controller, commands, _ = cell
    nudge(commands)
    wait_until(lambda: controller.arm_goals and controller.gripper_goals, 10, "an arm goal and a gripper goal")
    trajectory = controller.arm_goals[-1].trajectory
    assert list(trajectory.joint_names) == list(LIMITS.arm_names)
    points = trajectory.points
    assert all(len(p.velocities) == 7 and len(p.accelerations) == 7 for p in points)
    assert points[-1].positions[0] == pytest.approx(HOME[0] + 0.02, abs=1e-9)
    assert max(abs(p.velocities[0]) for p in points) > 0 and list(points[-1].velocities) == [0.0] * 7
    assert controller.gripper_goals[-1].command.position == pytest.approx(HOME[-1], abs=1e-9)


def test_a_goal_the_controller_aborts_latches_a_fault_with_its_reason(cell):
    controller, commands, state = cell
    controller.abort = True
    sent = time.monotonic()
    nudge(commands, names=LIMITS.arm_names)
    _, latched = state.wait_for(lambda m: m.data.startswith("fault"), timeout=10, after=sent,
                                what="the supervisor faulted")
    message = latched.data
    assert "controller: /arm_controller/follow_joint_trajectory aborted the goal" in message
    assert "GOAL_TOLERANCE_VIOLATED: panda_joint4 ended 0.031 rad from its goal" in message
    goals = len(controller.arm_goals)
    time.sleep(0.5)
    nudge(commands, names=LIMITS.arm_names)  # latched: nothing new goes out
    time.sleep(0.5)
    assert len(controller.arm_goals) <= goals + 1  # at most the stop planned from what was commanded


def test_no_controller_to_take_the_goal_is_a_fault(tmp_path):
    with supervised(tmp_path / "supervisor.log", arm_action="/nobody/here") as (_, state, commands):
        sent = time.monotonic()
        nudge(commands, names=LIMITS.arm_names)
        _, latched = state.wait_for(lambda m: m.data.startswith("fault"), timeout=10, after=sent, what="a fault")
        assert "no action server /nobody/here: the controller is not running" in latched.data


def test_an_unknown_controller_interface_ends_the_supervisor_with_the_reason(tmp_path):
    supervisor = RosProcess.node("supervisor", {"controller_interface": "carrier pigeon"}, next_domain(),
                                 tmp_path / "supervisor.log", name="safety_supervisor")
    try:
        supervisor.wait_for_output("controller_interface 'carrier pigeon' refused: it is one of topic, action",
                                   timeout=60)
    finally:
        supervisor.stop()
