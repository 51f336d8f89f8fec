"""A policy with a wrist camera in the ROS graph: `robostral up --sim` shows it one, and the policy node
commands only while the wrist camera is as fresh as the front camera and the joint states."""

from __future__ import annotations

import time

import numpy as np
from diagnostic_msgs.msg import DiagnosticStatus
from ros_helpers import robostral_up, wait_for_diagnostic
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import String
from trajectory_msgs.msg import JointTrajectory

from robostral.bundle.card import read_card
from robostral.ros import contract
from robostral.ros.messages import image_msg, joint_state_msg
from robostral.ros.remaps import load_remaps
from robots import load_robot

PERIOD = 0.05  # s: 20 Hz
CELL = load_remaps("hardware")  # the test plays the cell's drivers: by the cell's topic names
STALE_TIMEOUT = 0.2  # s: policy_node.stale_timeout in launch/params/hardware.yaml
IN_FLIGHT = 0.15  # s: a command computed before the wrist camera stopped may still come
HOME = load_robot("panda").home_positions  # rad, the gripper open (m)


def test_the_simulated_cell_shows_a_wrist_bundle_its_wrist_camera_and_the_policy_commands(wrist_pipeline, tmp_path):
    with robostral_up(["--sim", "--policy", str(wrist_pipeline.bundle), "--task", "reach"],
                      tmp_path / "up.log") as (_, probe):
        wrist = probe.record(contract.WRIST_CAMERA_IMAGE, Image, contract.IMAGE_QOS)
        commands = probe.record(contract.POLICY_TRAJECTORY, JointTrajectory, contract.POLICY_TRAJECTORY_QOS)
        probe.publisher(contract.INSTRUCTION, String, contract.LATCHED_QOS).publish(
            String(data="reach the green target"))
        _, frame = wrist.wait_for(timeout=30, what="wrist camera frames from the sim driver")
        assert (frame.height, frame.width, frame.encoding) == (32, 32, "rgb8")
        commands.wait_for(timeout=30, what="commands from the policy node")


def test_a_stale_wrist_camera_stops_the_commands_and_the_policy_node_says_why(wrist_pipeline, tmp_path):
    card = read_card(wrist_pipeline.bundle)
    names, size = list(card.joint_names), card.wrist_shape[0]
    with robostral_up(["--hardware", "--policy", str(wrist_pipeline.bundle)], tmp_path / "up.log") as (_, probe):
        diagnostics = probe.record_diagnostics()
        commands = probe.record(contract.POLICY_TRAJECTORY, JointTrajectory, contract.POLICY_TRAJECTORY_QOS)
        images = probe.publisher(CELL.topic(contract.CAMERA_IMAGE), Image, contract.IMAGE_QOS)
        wrist_images = probe.publisher(contract.WRIST_CAMERA_IMAGE, Image, contract.IMAGE_QOS)
        joint_states = probe.publisher(contract.JOINT_STATES, JointState, contract.JOINT_STATES_QOS, subscribers=2)
        probe.publisher(contract.INSTRUCTION, String, contract.LATCHED_QOS).publish(
            String(data="reach the green target"))
        feeding = {"wrist": False}

        def publish() -> None:
            stamp = probe.node.get_clock().now().to_msg()
            pixels = np.full((size, size, 3), 120, dtype=np.uint8)
            if feeding["wrist"]:
                wrist_images.publish(image_msg(pixels, stamp))
            images.publish(image_msg(pixels, stamp))
            joint_states.publish(joint_state_msg(names, HOME, np.zeros(len(HOME)), stamp))

        with probe.every(PERIOD, publish):
            started = time.monotonic()
            _, status = wait_for_diagnostic(diagnostics, "policy_node", "no wrist camera image yet: not commanding",
                                            timeout=30, after=started)
            assert status.level == DiagnosticStatus.WARN and commands.since(started) == []

            feeding["wrist"] = True
            commands.wait_for(timeout=10, after=time.monotonic(), what="commands once the wrist camera is there")

            feeding["wrist"] = False
            stopped = time.monotonic()
            wait_for_diagnostic(diagnostics, "policy_node", "wrist camera image is", after=stopped)
            time.sleep(0.5)
            assert commands.since(stopped + STALE_TIMEOUT + IN_FLIGHT) == []
