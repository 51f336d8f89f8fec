"""Nodes validate what they receive, over real DDS: bad messages are dropped with a diagnostic, no node dies.

The sim driver (one node on a domain of its own) gets trajectories it cannot follow on the
arm controller's topic (NaN, inf, 10,000 points, unknown joints, past the URDF's limits, bad
times) and junk instructions: it keeps stepping, says why on /diagnostics, the arm stays put.
The policy node (the tiny test bundle, fed a camera image and joint states by the test) gets
arbitrary text on /robostral/instruction with the graph's QoS (a hypothesis fuzzer) and
malformed serialized strings: junk is refused with the reason, nothing is commanded for it
(the previous instruction ends too), and the node stays alive. Its commands, from joint
states at the edges of the joint ranges and for objects not in any scene, all pass the
supervisor's checks (``check_trajectory``).
"""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass, field

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lifecycle_msgs.msg import Transition
from rclpy.publisher import Publisher
from ros_helpers import Probe, RosProcess, Topic, next_domain, stamp_seconds, wait_for_diagnostic, wait_until
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import String
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

from robostral.bundle.card import read_card
from robostral.ros import contract
from robostral.ros.follower import TrajectoryFollower
from robostral.ros.messages import MAX_BYTES, MAX_JOINTS, image_msg, joint_state_msg, seconds, trajectory_msg
from robostral.safety import (
    MAX_POINTS,
    Accepted,
    SafetyConfig,
    Trajectory,
    TrajectoryPoint,
    check_trajectory,
)
from robots import load_robot
from sim.language import CHARSET, check_instruction

PERIOD = 0.05  # s: the control period at 20 Hz
STARTUP = 90.0  # s: a node's start on a busy machine (PyBullet, ONNX Runtime sessions)
STILL = 1e-3  # rad (m): a joint that moved less did not move
GRACE = 0.5  # s after a refusal is reported: a command computed before it may still arrive until then
QUIET = 1.0  # s after a refusal is reported during which no command may come
SPEC = load_robot("panda")
ARM = list(SPEC.arm_joints)
NAMES = list(SPEC.joint_names)  # the arm joints, then the gripper's drive
HOME = np.array([*SPEC.home, SPEC.gripper.open])  # rad, the gripper open (m)
GOOD = "reach the green target"
NUL_THEN_JUNK = b"reach the red target\x00\xff\xfe\x01 junk"


def serialized_string(payload: bytes) -> bytes:
    """A little-endian CDR std_msgs/String whose text is ``payload`` (NULs and all), as any DDS writer may send."""
    return b"\x00\x01\x00\x00" + struct.pack("<I", len(payload) + 1) + payload + b"\x00"


MALFORMED = [
    (serialized_string(NUL_THEN_JUNK), "the text has a NUL byte at byte 20"),
    (serialized_string(b"reach the \xff\xfe target"), "the text is not valid UTF-8"),
    (serialized_string(b"reach")[:-3], "malformed std_msgs/String: 6 bytes announced"),  # DDS pads what came
]
MALFORMED_IDS = ["NUL then junk", "invalid UTF-8", "length past the end"]


def expected(text: str) -> tuple[str, str]:
    """What the node must do with ``text`` published through rclpy (which cuts it at its first NUL):
    ("clear", ""), ("command", instruction) or ("refuse", reason)."""
    sent = text.split("\x00")[0]
    if sent == "":
        return "clear", ""
    size = 8 + len(sent.encode("utf-8", "surrogatepass")) + 1  # encapsulation, length, the text and its NUL
    if size > MAX_BYTES[String]:
        return "refuse", f"a std_msgs/String of {size} bytes; at most {MAX_BYTES[String]} are read"
    try:
        return "command", check_instruction(sent)
    except ValueError as error:
        return "refuse", str(error)


# -- the sim driver's follower, plain Python ---------------------------------------------------

def test_the_follower_refuses_what_it_cannot_follow_and_goes_on_with_what_it_followed():
    lower, upper = np.full(len(NAMES), -2.0), np.full(len(NAMES), 2.0)
    follower = TrajectoryFollower(NAMES, np.zeros(len(NAMES)), lower, upper)
    follower.follow(ARM[:1], [[1.0]], [1.0], now=0.0)
    bad = {
        "NaN": (ARM[:1], [[np.nan]], [1.0], "point 0: panda_joint1 position is nan"),
        "inf": (ARM[:1], [[-np.inf]], [1.0], "point 0: panda_joint1 position is -inf"),
        "past a limit": (ARM[:1], [[2.5]], [1.0], "point 0: panda_joint1 position 2.5 is outside its limits [-2, 2]"),
        "unknown joint": (["elbow"], [[0.0]], [1.0], "unknown joints elbow"),
        "repeated joint": (ARM[:1] * 2, [[0.0, 0.0]], [1.0], "joint names must be distinct"),
        "negative time": (ARM[:1], [[0.0]], [-1.0], "time_from_start must be finite, >= 0 and increasing"),
        "NaN time": (ARM[:1], [[0.0]], [np.nan], "time_from_start must be finite"),
        "times not increasing": (ARM[:1], [[0.0], [0.1]], [1.0, 1.0], "time_from_start must be finite"),
        "too many points": (ARM[:1], np.zeros((MAX_POINTS + 1, 1)), np.arange(1, MAX_POINTS + 2) * 0.01,
                            f"{MAX_POINTS + 1} points; at most {MAX_POINTS}"),
        "shape": (ARM[:2], [[0.0]], [1.0], "(1, 1) positions for 1 times and 2 joints"),
    }
    for name, (names, positions, times, reason) in bad.items():
        with pytest.raises(ValueError, match=reason.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
            follower.follow(names, positions, times, now=0.5)
        assert follower.target(0.5)[0] == pytest.approx(0.5), name  # still on the way to 1.0
    follower.follow(NAMES[-1:], [[2.0 + 1e-7]], [1.0], now=0.5)  # a hair past a limit: a measured pose re-sent


# -- the sim driver, over DDS --------------------------------------------------------------------

@dataclass
class Sim:
    node: RosProcess
    probe: Probe
    joint_states: Topic
    diagnostics: Topic
    arm: Publisher  # of /arm_controller/joint_trajectory, as the supervisor
    instruction: Publisher


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    domain = next_domain()
    parameters = {"task": "reach", "robot": "panda", "image_size": 32, "randomization_level": 0.0,
                  "wrist_camera": "false"}
    node = RosProcess.node("sim_driver", parameters, domain, tmp_path_factory.mktemp("sim_driver") / "node.log")
    probe = Probe(domain)
    try:
        yield Sim(node, probe, probe.record(contract.JOINT_STATES, JointState, contract.JOINT_STATES_QOS),
                  probe.record_diagnostics(),
                  probe.publisher(contract.ARM_TRAJECTORY, JointTrajectory, contract.CONTROLLER_QOS, timeout=STARTUP),
                  probe.publisher(contract.INSTRUCTION, String, contract.LATCHED_QOS, timeout=STARTUP))
    finally:
        probe.close()
        assert node.stop() == 0


@pytest.fixture
def at_home(sim):
    """The sim driver's arm at home and at rest (a new scene)."""
    assert sim.probe.call(contract.SIM_RESET, Trigger, timeout=STARTUP).success
    settled = time.monotonic() + 0.3
    sim.joint_states.wait_for(lambda msg: np.abs(msg.velocity).max() < 0.01, timeout=30, after=settled,
                              what="the arm at rest")
    return sim


def arm_trajectory(positions: np.ndarray, times, names=ARM) -> JointTrajectory:
    return trajectory_msg(names, np.atleast_2d(positions), times)


def with_value(joint: int, value: float) -> JointTrajectory:
    positions = HOME[:-1].copy()
    positions[joint] = value
    return arm_trajectory(positions, [0.5])


@pytest.mark.parametrize("trajectory, reason", [
    (with_value(3, float("nan")), "point 0: panda_joint4 position is nan"),
    (with_value(1, float("inf")), "point 0: panda_joint2 position is inf"),
    (arm_trajectory(np.tile(HOME[:-1], (10_000, 1)), np.arange(1, 10_001) * 0.01),
     "JointTrajectory message of"),  # about 800 KB: refused unread, over MAX_BYTES
    (arm_trajectory(np.tile(HOME[:-1], (MAX_POINTS + 1, 1)), np.arange(1, MAX_POINTS + 2) * 0.01),
     f"trajectory has 7 joints and {MAX_POINTS + 1} points; at most {MAX_JOINTS} and {MAX_POINTS} are read"),
    (arm_trajectory(HOME[:1], [0.5], names=["panda_joint9"]), "unknown joints panda_joint9"),
    (with_value(3, -3.5), "point 0: panda_joint4 position -3.5 is outside its limits"),
    (arm_trajectory(np.tile(HOME[:-1], (2, 1)), [-0.5, 0.5]), "time_from_start must be finite, >= 0 and increasing"),
    (arm_trajectory(np.tile(HOME[:-1], (2, 1)), [0.5, 0.5]), "time_from_start must be finite, >= 0 and increasing"),
], ids=["NaN", "inf", "10,000 points", "1,001 points", "unknown joint", "past the URDF limit", "negative time",
        "times not increasing"])
def test_the_sim_driver_refuses_a_trajectory_it_cannot_follow_and_keeps_stepping(at_home, trajectory, reason):
    sim = at_home
    before = np.array(sim.joint_states.latest().position)
    sent = time.monotonic()
    sim.arm.publish(trajectory)
    wait_for_diagnostic(sim.diagnostics, "sim_driver", f"trajectory refused: {reason}", after=sent)
    later = time.monotonic() + 0.5
    sim.joint_states.wait_for(timeout=30, after=later, what="joint states, still")  # it keeps stepping
    assert sim.node.process.poll() is None
    moved = [np.abs(np.array(msg.position) - before).max() for _, msg in sim.joint_states.since(sent)]
    assert max(moved) < STILL
    # a new scene forgets what was refused in the last one
    _, status = wait_for_diagnostic(sim.diagnostics, "sim_driver", "seed=", after=sent)
    seed = int(dict((kv.key, kv.value) for kv in status.values)["seed"])
    assert sim.probe.call(contract.SIM_RESET, Trigger, timeout=STARTUP).success
    _, status = wait_for_diagnostic(sim.diagnostics, "sim_driver", f"seed={seed + 1} ", after=sent)
    assert "trajectory refused" not in status.message


def test_the_sim_driver_refuses_junk_instructions_and_takes_the_next_good_one(at_home):
    sim = at_home
    strings = [(String(data=text), expected(text)[1]) for text in ("x" * 100_000, "reach the \x07 target")]
    for junk, reason in [*strings, *MALFORMED]:
        sent = time.monotonic()
        sim.instruction.publish(junk)
        wait_for_diagnostic(sim.diagnostics, "sim_driver", f"instruction refused: {reason}", after=sent)
        sent = time.monotonic()
        sim.instruction.publish(String(data=GOOD))
        _, status = wait_for_diagnostic(sim.diagnostics, "sim_driver", f"instruction={GOOD}", after=sent)
        assert "instruction refused" not in status.message
    assert sim.node.process.poll() is None


# -- the policy node, over DDS -------------------------------------------------------------------

@dataclass
class Policy:
    node: RosProcess
    probe: Probe
    diagnostics: Topic
    commands: Topic
    instruction: Publisher
    image: np.ndarray
    pose: np.ndarray = field(default_factory=HOME.copy)  # what the joint states the test publishes say

    def publish(self, joint_states: Publisher, images: Publisher) -> None:
        stamp = self.probe.node.get_clock().now().to_msg()
        joint_states.publish(joint_state_msg(NAMES, self.pose, np.zeros(len(NAMES)), stamp))
        images.publish(image_msg(self.image, stamp))

    def alive(self) -> bool:
        return self.node.process.poll() is None and "Traceback" not in self.node.output()


@pytest.fixture(scope="module")
def policy(pipeline, tmp_path_factory):
    size = read_card(pipeline.bundle).image_size
    domain = next_domain()
    log = tmp_path_factory.mktemp("policy_node") / "node.log"
    # stale_timeout: a node that lags this far behind its inputs commands nothing (see the envelope test)
    node = RosProcess.node("policy_node", {"bundle": pipeline.bundle, "stale_timeout": 0.5}, domain, log)
    probe = Probe(domain)
    try:
        for transition in (Transition.TRANSITION_CONFIGURE, Transition.TRANSITION_ACTIVATE):
            assert probe.transition("policy_node", transition, timeout=STARTUP).success
        image = np.random.default_rng(0).integers(0, 256, (size, size, 3), dtype=np.uint8)
        policy = Policy(node, probe, probe.record_diagnostics(),
                        probe.record(contract.POLICY_TRAJECTORY, JointTrajectory, contract.POLICY_TRAJECTORY_QOS),
                        probe.publisher(contract.INSTRUCTION, String, contract.LATCHED_QOS), image)
        joint_states = probe.publisher(contract.JOINT_STATES, JointState, contract.JOINT_STATES_QOS)
        images = probe.publisher(contract.CAMERA_IMAGE, Image, contract.IMAGE_QOS)
        with probe.every(PERIOD, lambda: policy.publish(joint_states, images)):
            yield policy
    finally:
        probe.close()
        assert node.stop() == 0


def commanding(policy: Policy, text: str = GOOD) -> None:
    """Send a good instruction and wait until the policy node commands for it."""
    sent = time.monotonic()
    policy.instruction.publish(String(data=text))
    wait_for_diagnostic(policy.diagnostics, "policy_node", f"commanding: {text}", timeout=30, after=sent)
    policy.commands.wait_for(timeout=30, after=time.monotonic(), what="commands")


def assert_refused_and_silent(policy: Policy, sent: float, reason: str) -> None:
    """The refusal reported since ``sent``, and no command for it: none received ``GRACE`` s after the report
    came, none computed from a camera image taken after the node reported."""
    received, status = wait_for_diagnostic(policy.diagnostics, "policy_node", f"instruction refused: {reason}",
                                           timeout=30, after=sent)
    reported = next(stamp_seconds(array) for _, array in policy.diagnostics.since(received) if status in array.status)
    wait_until(lambda: time.monotonic() > received + QUIET, QUIET + 1, "the quiet period")
    late = [msg for t, msg in policy.commands.since(sent) if t > received + GRACE or stamp_seconds(msg) > reported]
    assert late == [], f"{len(late)} command(s) after a refused instruction"
    assert policy.alive()


texts = st.one_of(
    st.text(max_size=300),  # any unicode: control characters, other scripts, NULs
    st.text(alphabet=CHARSET, max_size=200),  # the instruction language, up to too long
    st.binary(max_size=300).map(lambda raw: raw.decode("latin-1")),  # binary junk
    st.integers(161, 200_000).map(lambda n: "pick " * (n // 5)),  # huge
)


@settings(max_examples=30, deadline=None)
@given(text=texts)
def test_the_policy_node_refuses_junk_instructions_and_commands_nothing_for_them(policy, text):
    commanding(policy)
    action, detail = expected(text)
    sent = time.monotonic()
    policy.instruction.publish(String(data=text))
    if action == "refuse":
        assert_refused_and_silent(policy, sent, detail)
    elif action == "clear":
        wait_for_diagnostic(policy.diagnostics, "policy_node", "waiting for an instruction", timeout=30, after=sent)
    else:
        wait_for_diagnostic(policy.diagnostics, "policy_node", f"commanding: {detail}", timeout=30, after=sent)
    assert policy.alive()


@pytest.mark.parametrize("raw, reason", MALFORMED, ids=MALFORMED_IDS)
def test_the_policy_node_refuses_a_malformed_serialized_instruction(policy, raw, reason):
    commanding(policy)
    sent = time.monotonic()
    policy.instruction.publish(raw)
    assert_refused_and_silent(policy, sent, reason)


def edge_poses(count: int, config: SafetyConfig) -> list[np.ndarray]:
    """Arm poses a little inside the margin of every joint's range (either end), tool point well in the box."""
    limits, kinematics = config.joint_limits(), config.description.tool_kinematics()
    rng = np.random.default_rng(7)
    poses = []
    while len(poses) < count:
        arm = np.where(rng.random(len(ARM)) < 0.5, limits.low[:-1] + rng.uniform(0, 0.1, len(ARM)),
                       limits.high[:-1] - rng.uniform(0, 0.1, len(ARM)))
        tool = kinematics.tool_points(arm)[0]
        if config.workspace.contains(tool) and tool[2] > 0.05:
            poses.append(np.append(arm, SPEC.gripper.open))
    return poses


def computed_after(policy: Policy, stamp: float) -> list[JointTrajectory]:
    """The commands computed from camera images taken after ``stamp`` (s, the probe's clock)."""
    return [msg for _, msg in policy.commands.since() if stamp_seconds(msg) > stamp]


def test_the_policy_node_commands_only_what_the_supervisor_accepts(policy):
    """At the edges of the joint ranges, for objects not in any scene, its targets are clipped into the envelope."""
    config = SafetyConfig(robot="panda")  # what the supervisor enforces: the node's default safety_config
    limits, kinematics = config.joint_limits(), config.description.tool_kinematics()
    commanding(policy, "put the purple cube in the orange bin")
    try:
        for pose in edge_poses(6, config):
            policy.pose = pose
            time.sleep(1.0)  # every input now says ``pose`` (the inputs go stale in 0.5 s)
            since = policy.probe.node.get_clock().now().nanoseconds * 1e-9
            wait_until(lambda since=since: len(computed_after(policy, since)) >= 3, 30, "3 commands from the new pose")
            for msg in computed_after(policy, since):
                points = [TrajectoryPoint(tuple(p.positions), seconds(p.time_from_start)) for p in msg.points]
                verdict = check_trajectory(Trajectory(tuple(msg.joint_names), points), pose, np.zeros(len(pose)),
                                           limits=limits, kinematics=kinematics, config=config)
                assert isinstance(verdict, Accepted), f"from {pose.round(3).tolist()}: {verdict}"
    finally:
        policy.pose = HOME.copy()
    assert policy.alive()


def test_a_bad_safety_config_fails_the_policy_nodes_configure_with_the_reason(policy, pipeline, tmp_path):
    config = tmp_path / "safety.yaml"
    config.write_text("position_margin: 0.05\nworkspace_box: {low: [0, 0, 0]}\n")  # a misspelt key
    started = time.monotonic()
    node = RosProcess.node("policy_node", {"bundle": pipeline.bundle, "safety_config": config}, policy.node.domain,
                           tmp_path / "node.log", name="misconfigured_policy")
    try:
        assert not policy.probe.transition("misconfigured_policy", Transition.TRANSITION_CONFIGURE,
                                           timeout=STARTUP).success
        wait_for_diagnostic(policy.diagnostics, "policy_node",
                            f"safety envelope refused: {config}: SafetyConfig: unknown key(s) workspace_box",
                            after=started)
        assert node.process.poll() is None
    finally:
        assert node.stop() == 0
