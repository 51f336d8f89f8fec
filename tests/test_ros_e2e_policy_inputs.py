"""End to end over real DDS: the policy node's inputs, with `robostral up --hardware` (policy node and supervisor only).

The test process is the camera driver and ros2_control: it publishes an image (bgr8, larger
than the policy's input and not square: the policy node crops and resizes it as
``policy_node.camera_crop`` says) and a joint state every control step, the arm where the
supervisor's trajectories put it (it follows them as a joint_trajectory_controller does,
starting at home), and as the cell's
engineer it resets the supervisor, which starts latched. A stale camera, a malformed
image or joint state stops the commands and the policy node says why on /diagnostics;
the supervisor then sends nothing new (at most the stop of what it commanded); no node
dies. A NaN joint state is a broken sensor to the supervisor: it latches a fault. A
tampered bundle fails the policy node's configure transition, with the reason, and so does a
camera input or transport that cannot be. A second policy node (beside the cell's, its commands
on a topic of their own) takes the camera as JPEGs on /camera/image_raw/compressed: it commands
from them, and a JPEG that does not decode stops its commands with the reason.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
import pytest
from builtin_interfaces.msg import Time
from conftest import copy_bundle
from diagnostic_msgs.msg import DiagnosticStatus
from lifecycle_msgs.msg import Transition
from rclpy.publisher import Publisher
from ros_helpers import Probe, RosProcess, Topic, robostral_up, wait_for_diagnostic
from sensor_msgs.msg import CompressedImage, Image, JointState
from std_msgs.msg import String
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

from robostral.bundle.card import read_card
from robostral.ros import contract
from robostral.ros.messages import (
    image_msg,
    joint_state_msg,
    seconds,
    trajectory_from_msg,
    trajectory_rates_from_msg,
)
from robostral.ros.remaps import load_remaps
from robostral.safety import CommandedMotion
from robots import load_robot

PERIOD = 0.05  # s: the control period at 20 Hz
CELL = load_remaps("hardware")  # the test plays the cell's drivers: by the cell's topic names
STALE_TIMEOUT = 0.2  # s: policy_node.stale_timeout in launch/params/hardware.yaml
IN_FLIGHT = 0.15  # s: a command computed before the bad input arrived may still come
HOME = load_robot("panda").home_positions  # rad, the gripper open (m)
MARGIN = 4  # px: the camera's frame is this much wider than the crop on each side, and 8 px taller than the input


@dataclass
class Cell:
    graph: RosProcess
    probe: Probe
    diagnostics: Topic
    commands: Topic  # the policy node's trajectories
    arm: Topic  # what the supervisor sends the arm controller
    joint_names: list[str]
    image_size: int
    arm_pose: CommandedMotion  # the test's stand-in controller: where the supervisor's trajectories put the arm
    # What the test publishes each control step (None: nothing), as the camera and ros2_control would.
    image: Callable[[], Image] | None = None
    joints: Callable[[], JointState] | None = None

    def publish(self, images: Publisher, joint_states: Publisher) -> None:
        if self.image is not None:
            images.publish(self.image())
        if self.joints is not None:
            joint_states.publish(self.joints())

    def stamp(self) -> Time:
        return self.probe.node.get_clock().now().to_msg()

    def good_image(self) -> Image:
        """A frame as a camera driver sends it: bgr8, larger than the input, wider than tall."""
        side = self.image_size + 2 * MARGIN
        image = image_msg(np.full((side, side + 2 * MARGIN, 3), 120, dtype=np.uint8), self.stamp())
        image.encoding = "bgr8"
        return image

    def good_joints(self) -> JointState:
        state = self.arm_pose.at(time.monotonic(), fallback=HOME)
        return joint_state_msg(self.joint_names, state.positions, state.velocities, self.stamp())

    def follow(self, msg: JointTrajectory) -> None:
        """The stand-in controller takes a trajectory from the supervisor."""
        names, positions, times = trajectory_from_msg(msg)
        velocities, accelerations = trajectory_rates_from_msg(msg)
        self.arm_pose.follow(names, positions, times, time.monotonic(), start=HOME, velocities=velocities,
                             accelerations=accelerations)


@pytest.fixture(scope="module")
def cell(pipeline, tmp_path_factory):
    card = read_card(pipeline.bundle)
    log = tmp_path_factory.mktemp("ros_hardware") / "up.log"
    side = card.image_size + 2 * MARGIN
    crop = f"policy_node.camera_crop=[{MARGIN}, 0, {side}, {side}]"  # the middle of the frame
    with robostral_up(["--hardware", "--policy", str(pipeline.bundle), "--param", crop], log) as (graph, probe):
        cell = Cell(graph, probe, probe.record_diagnostics(),
                    probe.record(contract.POLICY_TRAJECTORY, JointTrajectory, contract.POLICY_TRAJECTORY_QOS),
                    probe.record(CELL.topic(contract.ARM_TRAJECTORY), JointTrajectory, contract.CONTROLLER_QOS),
                    list(card.joint_names), card.image_size,
                    CommandedMotion(card.joint_names))
        probe.node.create_subscription(JointTrajectory, CELL.topic(contract.ARM_TRAJECTORY), cell.follow,
                                       contract.CONTROLLER_QOS)
        images = probe.publisher(CELL.topic(contract.CAMERA_IMAGE), Image, contract.IMAGE_QOS)
        joint_states = probe.publisher(contract.JOINT_STATES, JointState, contract.JOINT_STATES_QOS, subscribers=2)
        instruction = probe.publisher(contract.INSTRUCTION, String, contract.LATCHED_QOS)
        instruction.publish(String(data="reach the green target"))
        with probe.every(PERIOD, lambda: cell.publish(images, joint_states)):
            yield cell


@pytest.fixture
def commanding(cell):
    """The cell fed good inputs, the supervisor reset by the engineer, the policy commanding again."""
    cell.image, cell.joints = cell.good_image, cell.good_joints
    now = time.monotonic()
    cell.commands.wait_for(timeout=10, after=now, what="commands from the policy node")
    time.sleep(0.3)  # the last bad joint state (a NaN latches a fault) has reached the supervisor
    response = cell.probe.call(contract.RESET, Trigger)
    assert response.success or response.message == "active: no-op", response.message
    # and the supervisor forwarding them: on a loaded machine it can hear its first joint state late
    wait_for_diagnostic(cell.diagnostics, "safety_supervisor", "state=active", timeout=30, after=now)
    return cell


def commands_after(cell: Cell, when: float) -> list:
    return [msg for _, msg in cell.commands.since(when)]


def assert_only_holds(cell: Cell, when: float) -> None:
    """The supervisor sent the arm nothing new since ``when``: at most the controlled stop of what it commanded,
    which only ever slows down (its steps shrink) and ends where it rests."""
    sent = cell.arm.since(when)
    assert len(sent) <= 1, [seconds(m.points[-1].time_from_start) for _, m in sent]
    for _, msg in sent:
        steps = np.abs(np.diff([p.positions for p in msg.points], axis=0)).max(axis=1)
        assert np.all(np.diff(steps) <= 1e-9), steps


def test_a_stale_camera_stops_the_commands_and_the_policy_node_says_why(commanding):
    cell = commanding
    cell.image = None
    stopped = time.monotonic()
    wait_for_diagnostic(cell.diagnostics, "policy_node", f"s old (timeout {STALE_TIMEOUT:g} s): not commanding",
                        after=stopped)
    _, status = wait_for_diagnostic(cell.diagnostics, "policy_node", "camera image is", after=stopped)
    assert status.level == DiagnosticStatus.WARN
    time.sleep(0.5)
    assert commands_after(cell, stopped + STALE_TIMEOUT + IN_FLIGHT) == []
    assert_only_holds(cell, stopped + STALE_TIMEOUT + 2 * IN_FLIGHT)
    wait_for_diagnostic(cell.diagnostics, "safety_supervisor", "holding: watchdog", after=stopped)

    cell.image = cell.good_image  # the camera is back: so are the commands
    cell.commands.wait_for(timeout=5, after=time.monotonic(), what="commands again")


def wrong_encoding(cell: Cell) -> Image:
    image = cell.good_image()
    image.encoding = "mono8"  # no colour: a policy takes RGB
    return image


def wrong_size(cell: Cell) -> Image:
    return image_msg(np.zeros((cell.image_size, cell.image_size, 3), dtype=np.uint8), cell.stamp())


def truncated(cell: Cell) -> Image:
    image = cell.good_image()
    image.data = image.data[:-3]
    return image


def mismatched_lengths(cell: Cell) -> JointState:
    state = cell.good_joints()
    state.position = state.position[:-1]
    return state


def other_arm(cell: Cell) -> JointState:
    names = list(load_robot("xarm6").joint_names)  # its arm joints, then "drive_joint"
    return joint_state_msg(names, np.zeros(len(names)), np.zeros(len(names)), cell.stamp())


def not_a_number(cell: Cell) -> JointState:
    state = cell.good_joints()
    state.position[3] = float("nan")
    return state


@pytest.mark.parametrize(
    "feed, garbage, reason",
    [
        ("image", wrong_encoding, "camera image dropped: image encoding is 'mono8'; a policy takes colour"),
        ("image", wrong_size, "camera image dropped: crop [4, 0, 40, 40] does not fit a 32x32 image"),
        ("image", truncated, "camera image dropped: image step 144 / 5757 bytes do not match 40x48 bgr8"),
        ("joints", mismatched_lengths, "joint state dropped: joint state has 8 names, 7 positions and 8 velocities"),
        ("joints", other_arm, "joint state dropped: joint state lacks panda_joint1, panda_joint2"),
        ("joints", not_a_number, "joint state dropped: joint state has NaN or infinite values"),  # supervisor: a fault
    ],
    ids=["image encoding", "image size", "image data short", "joint state lengths", "unknown joints", "NaN joint"],
)
def test_a_malformed_input_stops_the_commands_with_a_clear_diagnostic(commanding, feed, garbage, reason):
    cell = commanding
    log = len(cell.graph.output())
    setattr(cell, feed, lambda: garbage(cell))
    started = time.monotonic()
    _, status = wait_for_diagnostic(cell.diagnostics, "policy_node", reason, after=started)
    assert status.level == DiagnosticStatus.WARN  # nothing is commanded, nothing is broken
    if garbage is not_a_number:  # a broken sensor, or a lie, to the supervisor: it latches a fault
        wait_for_diagnostic(cell.diagnostics, "safety_supervisor",
                            "fault: implausible joint state: joint state has NaN or infinite values", after=started)
    elif feed == "joints":  # the supervisor gets them too, and drops them
        wait_for_diagnostic(cell.diagnostics, "safety_supervisor", f"last={reason}", after=started)
    time.sleep(0.5)
    assert commands_after(cell, started + IN_FLIGHT) == []
    assert_only_holds(cell, started + 2 * IN_FLIGHT)
    assert "exited with status" not in cell.graph.output()[log:]  # no node died


def test_a_tampered_bundle_fails_configure_with_the_reason(cell, pipeline, tmp_path):
    tampered = copy_bundle(pipeline.bundle, tmp_path / "tampered")
    with open(tampered / "policy.onnx", "r+b") as handle:
        handle.seek(100)
        byte = handle.read(1)
        handle.seek(100)
        handle.write(bytes([byte[0] ^ 0xFF]))
    started = time.monotonic()
    node = RosProcess.node("policy_node", {"bundle": tampered}, cell.graph.domain, tmp_path / "node.log",
                           name="tampered_policy")
    try:
        assert not cell.probe.transition("tampered_policy", Transition.TRANSITION_CONFIGURE).success
        _, status = wait_for_diagnostic(cell.diagnostics, "policy_node", f"bundle refused: {tampered}: policy.onnx",
                                        after=started)
        assert status.level == DiagnosticStatus.ERROR and "tampered or corrupt" in status.message
        assert cell.probe.state("tampered_policy") == "unconfigured" and node.process.poll() is None
        assert "configure failed: bundle" in node.output()
    finally:
        assert node.stop(timeout=5) == 0  # and it stops cleanly on SIGINT, though idle


@pytest.mark.parametrize("parameters, reason", [
    ({"wrist_camera_rotate": 45}, "wrist_camera: rotate must be one of (0, 90, 180, 270) degrees, got 45"),
    ({"camera_transport": "theora"}, "camera: transport must be one of raw, compressed, got 'theora'"),
], ids=["rotation", "transport"])
def test_a_camera_input_that_cannot_be_fails_configure_with_the_reason(cell, pipeline, tmp_path, parameters, reason):
    started = time.monotonic()
    node = RosProcess.node("policy_node", {"bundle": pipeline.bundle, **parameters},
                           cell.graph.domain, tmp_path / "node.log", name="refused_policy")
    try:
        assert not cell.probe.transition("refused_policy", Transition.TRANSITION_CONFIGURE).success
        _, status = wait_for_diagnostic(cell.diagnostics, "policy_node", f"camera input refused: {reason}",
                                        after=started)
        assert status.level == DiagnosticStatus.ERROR
        assert cell.probe.state("refused_policy") == "unconfigured"
    finally:
        assert node.stop(timeout=5) == 0


def jpeg(cell: Cell, size: int | None = None) -> CompressedImage:
    """The good frame as image_transport's compressed plugin sends it; cut to ``size`` bytes if given."""
    raw = cell.good_image()
    msg = CompressedImage(header=raw.header, format="bgr8; jpeg compressed bgr8")
    pixels = np.frombuffer(raw.data, np.uint8).reshape(raw.height, raw.width, 3)
    msg.data = cv2.imencode(".jpg", pixels)[1].tobytes()[:size]
    return msg


def test_a_policy_node_takes_compressed_frames_and_stops_on_one_that_does_not_decode(commanding, pipeline, tmp_path):
    cell = commanding
    side, output = cell.image_size + 2 * MARGIN, "/compressed_policy/joint_trajectory"  # beside the cell's node
    node = RosProcess([sys.executable, "-m", "robostral.ros.policy_node", "--ros-args", "-r",
                       "__node:=compressed_policy", "-r", f"{contract.POLICY_TRAJECTORY}:={output}",
                       "-p", f"bundle:={pipeline.bundle}", "-p", "camera_transport:=compressed",
                       "-p", f"camera_crop:=[{MARGIN}, 0, {side}, {side}]"], cell.graph.domain, tmp_path / "node.log")
    try:
        for transition in (Transition.TRANSITION_CONFIGURE, Transition.TRANSITION_ACTIVATE):
            assert cell.probe.transition("compressed_policy", transition).success, node.output()
        commands = cell.probe.record(output, JointTrajectory, contract.POLICY_TRAJECTORY_QOS)
        frames = cell.probe.publisher(f"{contract.CAMERA_IMAGE}/compressed", CompressedImage, contract.IMAGE_QOS)
        cut = {"size": None}
        with cell.probe.every(PERIOD, lambda: frames.publish(jpeg(cell, cut["size"]))):
            commands.wait_for(timeout=30, after=time.monotonic(), what="commands computed from JPEG frames")
            cut["size"], cut_at, started = 500, seconds(cell.stamp()), time.monotonic()  # header kept, data cut
            said, status = wait_for_diagnostic(cell.diagnostics, "policy_node", "camera image dropped: jpeg data of "
                                               "500 bytes does not decode: corrupt or cut short", after=started)
            assert status.level == DiagnosticStatus.WARN
            time.sleep(1.5)
            # Each command is stamped with its frame: those heard after the node said so were on their way already.
            assert [seconds(msg.header.stamp) for _, msg in commands.since(said) if seconds(msg.header.stamp) >= cut_at
                    ] == []
            assert commands.since(said + 1.0) == []
    finally:
        assert node.stop(timeout=5) == 0
