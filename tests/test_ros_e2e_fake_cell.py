"""End to end: `robostral up --hardware --robot ur5` against `robostral fake-cell`, a UR cell the simulator plays.

The graph finds the cell only through its configuration: launch/graph.yaml's hardware remap (the cell's
controller and camera topics) and launch/params/hardware.yaml, plus the crop of the camera's 640x480 frame
that an engineer writes there (given here with --param). Real DDS, real processes, a tiny UR5 policy. The
test plays the cell's engineer: it resets the supervisor (it starts latched), gives the instruction, presses
the e-stop, and makes the cell misbehave through the fake cell's parameters, as `ros2 param set` would: a
silent controller (no joint states), a frozen camera (stale frames), a camera mode that is not square, a
driver whose joint names carry a prefix.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import yaml
from diagnostic_msgs.msg import DiagnosticStatus
from rcl_interfaces.srv import SetParameters
from rclpy.parameter import Parameter
from rclpy.publisher import Publisher
from rclpy.qos import QoSProfile
from ros_helpers import Probe, RosProcess, Topic, robostral_up, wait_for_diagnostic, wait_until
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import String
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

from robostral.cli import build_parser
from robostral.commands.fake_cell import ros_parameters
from robostral.ros import contract, fake_cell
from robostral.ros.messages import seconds, trajectory_msg
from robostral.ros.remaps import load_remaps
from robots import load_robot

UR5 = load_robot("ur5")
ARM = list(UR5.arm_joints)
INSTRUCTION = "reach the green target"  # the reach scene of seed 0 has a green target
CROP = "policy_node.camera_crop=[80, 0, 480, 480]"  # the middle square of the 640x480 frame
STALE_AFTER = 0.5  # s: SafetyConfig.state_stale_after; an older joint state is no basis for a command
MOVING = 0.05  # rad/s: an arm joint faster than this is moving
AT_REST = 0.01  # rad/s: every arm joint slower than this: the arm is at rest
STILL = 1e-3  # rad: an arm joint that moved less did not move
QUIET = 1.0  # s the test watches a cell that must not move


@dataclass
class Cell:
    graph: RosProcess
    probe: Probe
    log: Path
    diagnostics: Topic
    joint_states: Topic
    arm: Topic  # what the supervisor sends the cell's arm controller, as the cell receives it
    gripper: Topic
    commands: Topic  # the policy node's trajectories
    state: Topic  # the supervisor's latched state
    instruction: Publisher
    pendant: Publisher  # of the pendant's trajectories, for the test's own commands
    fake: RosProcess | None = None
    starts: list[str] = field(default_factory=list)

    def start_fake(self, *options: str) -> None:
        """`robostral fake-cell` on the graph's domain (replacing the running one), drawing a quarter of its frame's
        size: the box has two cores, and what the policy sees of the frame is the same. On the normal scheduler:
        at real-time priority beside the graph's control nodes it would starve this probe."""
        if self.fake is not None:
            self.fake.stop()
        self.starts.append(" ".join(options))
        words = [sys.executable, "-m", "robostral.cli", "fake-cell", "--render-scale", "0.25", *options]
        self.fake = RosProcess(words, self.graph.domain, self.log.with_name(f"fake-cell-{len(self.starts)}.log"))
        self.joint_states.wait_for(timeout=60, after=time.monotonic(), what="joint states from the fake cell")

    def set(self, **values: object) -> list[str]:
        """Change the fake cell's parameters while it runs, as `ros2 param set /fake_cell NAME VALUE` does; the
        reasons of those it refused."""
        request = SetParameters.Request(parameters=[Parameter(name, value=value).to_parameter_msg()
                                                    for name, value in values.items()])
        results = self.probe.call("/fake_cell/set_parameters", SetParameters, request).results
        return [result.reason for result in results if not result.successful]

    def state_now(self) -> str:
        latest = self.state.latest()
        return latest.data if latest is not None else ""

    def instruct_and_reset(self) -> float:
        """The instruction given and the supervisor reset by the engineer; when that began."""
        began = time.monotonic()
        self.instruction.publish(String(data=INSTRUCTION))
        response = self.probe.call(contract.RESET, Trigger)
        assert response.success or response.message == "active: no-op", response.message  # active: nothing to reset
        return began

    def commanding(self) -> float:
        """The cell healthy, the instruction given, the supervisor reset and the policy commanding; since when."""
        began = self.instruct_and_reset()
        wait_for_diagnostic(self.diagnostics, "policy_node", f"commanding: {INSTRUCTION}", timeout=30, after=began)
        return began

    @contextlib.contextmanager
    def broken(self, **faults: bool) -> Iterator[float]:
        """The policy commanding, then the fake cell with ``faults`` on while the block runs (off after); yields
        when they came on."""
        self.commanding()
        began = time.monotonic()
        assert not self.set(**faults)
        try:
            yield began
        finally:
            assert not self.set(**dict.fromkeys(faults, False))

    def stopped(self) -> float:
        """Wait until the supervisor no longer forwards commands (it holds on its watchdog, or held already), the
        last trajectory it sent (its stop) has ended and the arm is at rest; when it was."""
        wait_until(lambda: not self.state_now().startswith("active"), 3.0, "the supervisor holding", self.state_now)
        ends = [t + seconds(msg.points[-1].time_from_start) for topic in (self.arm, self.gripper)
                for t, msg in topic.received[-1:]]  # a jerk-limited stop creeps below AT_REST before it ends
        wait_until(lambda: time.monotonic() > max(ends, default=0.0), 10.0, "the last trajectory sent to end")
        return self.joint_states.wait_for(at_rest, timeout=3, after=time.monotonic(), what="the arm at rest")[0]

    def held(self, since: float) -> None:
        """For QUIET s from ``since``: nothing sent to the cell's controllers, and the arm did not move."""
        wait_until(lambda: time.monotonic() > since + QUIET, QUIET + 1, "the quiet period to pass")
        assert not self.arm.since(since) and not self.gripper.since(since)
        assert moved(self.joint_states.since(since)) < STILL


@contextlib.contextmanager
def hardware_graph(bundle: Path, log: Path, *options: str) -> Iterator[Cell]:
    """`robostral up --hardware --robot ur5` with ``bundle`` (and ``options``), the fake cell on its domain.

    The cell's workspace box, as an engineer sets one before the first motion, keeps the tool 6 cm above the
    table (for the supervisor and the policy node's envelope alike): the tiny policy dives for the table, and
    the description's 5 mm (for the tool point, the middle of the finger pads) lets the fingertips press on it,
    where the arm creeps while held."""
    safety = log.with_name("safety.yaml")
    safety.write_text(yaml.safe_dump({"workspace": {"low": [-0.85, -0.85, 0.06], "high": [0.85, 0.85, 1.2]}}))
    arguments = ["--hardware", "--robot", "ur5", "--policy", str(bundle), "--param",
                 f"safety_supervisor.safety_config={safety}", "--param", f"policy_node.safety_config={safety}",
                 *options]
    with robostral_up(arguments, log) as (graph, probe):
        cell = Cell(graph, probe, log, probe.record_diagnostics(),
                    probe.record(contract.JOINT_STATES, JointState, contract.JOINT_STATES_QOS),
                    probe.record(fake_cell.ARM_CONTROLLER, JointTrajectory, fake_cell.SYSTEM_DEFAULT_QOS),
                    probe.record(fake_cell.GRIPPER_CONTROLLER, JointTrajectory, fake_cell.SYSTEM_DEFAULT_QOS),
                    probe.record(contract.POLICY_TRAJECTORY, JointTrajectory, contract.POLICY_TRAJECTORY_QOS),
                    probe.record(contract.SUPERVISOR_STATE, String, contract.LATCHED_QOS),
                    probe.publisher(contract.INSTRUCTION, String, contract.LATCHED_QOS, subscribers=2),
                    probe.publisher(contract.PENDANT_TRAJECTORY, JointTrajectory, contract.POLICY_TRAJECTORY_QOS))
        try:
            cell.start_fake()
            yield cell
        finally:
            if cell.fake is not None:
                cell.fake.stop()


def arm_of(msg: JointState) -> np.ndarray:
    """(positions, velocities) of the arm joints in the description's order, from a joint state in the driver's."""
    index = {name: i for i, name in enumerate(msg.name)}
    rows = [index[name] for name in ARM]
    return np.array([[msg.position[i] for i in rows], [msg.velocity[i] for i in rows]])


def moving(msg: JointState) -> bool:
    return bool(np.abs(arm_of(msg)[1]).max() > MOVING)


def at_rest(msg: JointState) -> bool:
    return bool(np.abs(arm_of(msg)[1]).max() < AT_REST)


def moved(states: list[tuple[float, JointState]]) -> float:
    """The largest distance an arm joint travelled over ``states`` (rad)."""
    positions = np.array([arm_of(m)[0] for _, m in states])
    return float(np.abs(positions - positions[0]).max()) if len(positions) else 0.0


def test_the_fake_cells_options_reach_its_node_as_parameters_of_their_types():
    args = build_parser().parse_args(["fake-cell", "--camera-size", "1280x720", "--camera-rate", "15",
                                      "--tf-prefix", "ur_", "--silent"])
    assert ros_parameters(args) == ["-p", 'tf_prefix:="ur_"', "-p", "camera_rate:=15.0", "-p", "silent:=true",
                                    "-p", "camera_width:=1280", "-p", "camera_height:=720"]
    for wrong in (["--camera-size", "640"], ["--camera-rate", "0"], ["--joint-state-rate", "-5"]):
        with pytest.raises(SystemExit):
            build_parser().parse_args(["fake-cell", *wrong])


def test_the_hardware_graph_is_configured_for_the_cell_the_fake_cell_plays():
    """One place names the cell's topics (the hardware graph's remap), and they are the fake cell's."""
    remaps = load_remaps("hardware")
    assert remaps.topic(contract.ARM_TRAJECTORY) == fake_cell.ARM_CONTROLLER
    assert remaps.topic(contract.GRIPPER_TRAJECTORY) == fake_cell.GRIPPER_CONTROLLER
    assert remaps.topic(contract.CAMERA_IMAGE) == fake_cell.CAMERA
    assert remaps.topic(contract.JOINT_STATES) == fake_cell.JOINT_STATES == contract.JOINT_STATES
    assert load_remaps("sim").pairs == ()  # the sim driver uses the graph's own names


def test_a_camera_that_is_not_square_with_no_crop_is_refused_and_the_arm_holds(ur5_pipeline, tmp_path):
    """The camera crop is the engineer's to set: without one, a 640x480 frame is refused with the reason and
    nothing moves; the camera switched to a square mode while it runs is taken, and switched back, refused again.
    (First in the file: its graph is gone before the module's graph starts, on a box with two cores.)"""
    with hardware_graph(ur5_pipeline.bundle, tmp_path / "up.log") as cell:
        began = cell.instruct_and_reset()
        _, status = wait_for_diagnostic(cell.diagnostics, "policy_node", "not square", timeout=30, after=began)
        assert status.level == DiagnosticStatus.WARN and "480x640" in status.message, status.message
        cell.state.wait_for(lambda msg: msg.data.startswith("idle"), after=began, what="the supervisor idle")
        cell.held(time.monotonic())
        assert not cell.commands.since(began) and cell.state_now().startswith("idle")

        square = time.monotonic()
        assert not cell.set(camera_width=480, camera_height=480)
        wait_for_diagnostic(cell.diagnostics, "policy_node", f"commanding: {INSTRUCTION}", timeout=10, after=square)
        cell.arm.wait_for(timeout=10, after=square, what="the supervisor's trajectories on the cell's controller")
        cell.joint_states.wait_for(moving, timeout=10, after=square, what="the arm moving")

        wide = time.monotonic()
        assert not cell.set(camera_width=640, camera_height=480)
        wait_for_diagnostic(cell.diagnostics, "policy_node", "not square", timeout=10, after=wide)
        cell.held(cell.stopped())


@pytest.fixture(scope="module")
def cell(ur5_pipeline, tmp_path_factory) -> Iterator[Cell]:
    with hardware_graph(ur5_pipeline.bundle, tmp_path_factory.mktemp("fake_cell") / "up.log", "--param", CROP) as cell:
        yield cell


def test_the_fake_cell_speaks_as_a_ur_cell_and_the_graph_listens_there(cell):
    """Not the simulator's conventions: the driver's joint order, efforts, a 500 Hz broadcaster, a RealSense's
    topic, encoding, size and frame; the graph's nodes on the cell's topics, none on the graph's own names."""
    now = time.monotonic()
    cell.joint_states.wait_for(lambda msg: True, after=now + 1.0, timeout=5, what="a second of joint states")
    states = [m for _, m in cell.joint_states.since(now)]
    names = [*UR5.arm_joints, *UR5.gripper.joints]
    assert list(states[-1].name) == sorted(names) != names
    assert len(states[-1].effort) == len(states[-1].velocity) == len(names)
    stamps = np.array([s.header.stamp.sec + s.header.stamp.nanosec * 1e-9 for s in states])
    # 2 ms apart whenever its loop runs on time (the probe, on the normal scheduler, may miss some)
    assert np.percentile(np.diff(stamps), 10) < 0.003, np.diff(stamps)

    frames = Topic(fake_cell.CAMERA)  # reliable: a best-effort 900 KB frame is lost with any of its fragments
    subscription = cell.probe.node.create_subscription(Image, fake_cell.CAMERA, frames.add, QoSProfile(depth=1))
    try:
        _, frame = frames.wait_for(timeout=30, what="a camera frame")
    finally:
        cell.probe.node.destroy_subscription(subscription)
    assert (frame.width, frame.height, frame.encoding, frame.step) == (640, 480, "bgr8", 1920)
    assert frame.header.frame_id == fake_cell.CAMERA_FRAME

    assert cell.set(camera_width=0) == ["camera_width x camera_height must be whole pixels in 1..4096, got 0 x 480"]
    assert cell.set(joint_state_rate=125) == ["joint_state_rate is fixed at start"]

    node = cell.probe.node
    assert node.count_subscribers(fake_cell.CAMERA) >= 2  # the policy node and the pendant
    assert node.count_publishers(fake_cell.ARM_CONTROLLER) == node.count_publishers(fake_cell.GRIPPER_CONTROLLER) == 1
    assert node.count_subscribers(contract.CAMERA_IMAGE) == node.count_publishers(contract.ARM_TRAJECTORY) == 0


def test_an_instruction_moves_the_arm_and_the_estop_stops_it_until_reset(cell):
    began = cell.commanding()
    cell.state.wait_for(lambda msg: msg.data.startswith("active"), timeout=10, after=began,
                        what="the supervisor active")
    _, sent = cell.arm.wait_for(timeout=10, after=began, what="a trajectory on the cell's arm controller")
    assert sorted(sent.joint_names) == sorted(ARM)  # the whole arm, as a joint_trajectory_controller takes it
    cell.joint_states.wait_for(moving, timeout=10, after=began, what="the arm moving")
    wait_for_diagnostic(cell.diagnostics, "fake_cell", "trajectories_refused=0", after=began)

    pressed = time.monotonic()
    response = cell.probe.call(contract.ESTOP, Trigger)
    assert response.success, response.message
    cell.state.wait_for(lambda msg: msg.data.startswith("estopped"), after=pressed, what="the supervisor estopped")
    cell.held(cell.stopped())  # the policy goes on commanding: the supervisor ignores it
    wait_for_diagnostic(cell.diagnostics, "safety_supervisor", "command ignored while estopped", after=pressed)

    reset = time.monotonic()
    response = cell.probe.call(contract.RESET, Trigger)
    assert response.success and response.message == "estopped -> idle", response.message
    # the policy's commands are checked again (forwarded, or refused with a reason), no longer ignored
    cell.state.wait_for(lambda msg: msg.data.startswith(("active", "holding")), timeout=10, after=reset,
                        what="the supervisor checking commands again")


def test_a_frozen_camera_stops_the_policy_and_the_arm_holds(cell):
    with cell.broken(freeze_camera=True) as frozen:
        wait_for_diagnostic(cell.diagnostics, "fake_cell", "camera frozen", after=frozen)
        _, status = wait_for_diagnostic(cell.diagnostics, "policy_node", "camera image is", after=frozen)
        assert status.level == DiagnosticStatus.WARN and "not commanding" in status.message, status.message
        cell.held(cell.stopped())
    wait_for_diagnostic(cell.diagnostics, "policy_node", f"commanding: {INSTRUCTION}", after=time.monotonic())


def test_a_silent_controller_is_refused_by_the_supervisor_and_reported(cell):
    with cell.broken(silent=True) as silenced:
        wait_for_diagnostic(cell.diagnostics, "fake_cell", "silent", after=silenced)
        _, status = wait_for_diagnostic(cell.diagnostics, "policy_node", "joint state is", after=silenced)
        assert "not commanding" in status.message, status.message
        wait_until(lambda: not cell.state_now().startswith("active"), 3.0, "the supervisor holding", cell.state_now)
        # a command now (as the pendant's jog would send one) has no fresh joint state to be checked against: the
        # supervisor counts a state's age from when it took it, which can be up to STALE_AFTER after its stamp
        wait_until(lambda: time.monotonic() > silenced + 4 * STALE_AFTER, 5.0, "the joint state to go stale")
        last = cell.joint_states.latest()
        sent = time.monotonic()
        cell.pendant.publish(trajectory_msg(ARM, arm_of(last)[0][None], [0.5]))
        cell.state.wait_for(lambda msg: "command rejected: joint state is" in msg.data, after=sent,
                            what="the supervisor refusing the command")
        wait_for_diagnostic(cell.diagnostics, "safety_supervisor", "rejected: joint state is", after=sent)
        time.sleep(QUIET)  # what it would have sent had it taken the command
        assert not cell.arm.since(sent) and not cell.gripper.since(sent)
    cell.joint_states.wait_for(after=time.monotonic(), what="joint states again")


def test_a_driver_whose_joint_names_are_not_the_descriptions_is_refused_by_name(cell):
    """ur_robot_driver's tf_prefix renames every joint: the graph renames none (the description's must be the
    driver's), so the supervisor and the policy node drop its joint states, saying which joints they lack."""
    cell.start_fake("--tf-prefix", "ur_")
    try:
        began = cell.instruct_and_reset()
        wait_for_diagnostic(cell.diagnostics, "safety_supervisor", "joint state lacks shoulder_pan_joint", after=began)
        wait_for_diagnostic(cell.diagnostics, "policy_node", "joint state lacks shoulder_pan_joint", after=began)
        quiet = time.monotonic()
        time.sleep(QUIET)
        assert not cell.arm.since(quiet) and not cell.gripper.since(quiet)
    finally:
        cell.start_fake()
