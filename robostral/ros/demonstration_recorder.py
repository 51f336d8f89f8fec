"""The pendant node's demonstration recorder: one take at a time, in memory (``pendant.demonstrations.Recorder``).

It subscribes, on the pendant's node, to what a dataset needs: the camera(s) (raw or compressed), the
joint states, and the pendant's own commands to the supervisor (``PENDANT_TRAJECTORY``: every jog,
move and gripper motion it streams). Between takes the callbacks drop everything at once. During a
take they hand the serialized bytes, with their receive time, to a worker thread, so the node's
executor (the motion stream, the e-stop's service calls) never waits on them. The worker makes each
camera frame what the policy sees of it at once (``CameraInput.apply`` with the policy node's
``camera_*`` parameters: crop, turn, mirror, then the resize), so a take holds small images only.

Keep turns a take into one episode with ``ros.from_bag.recording_episodes``, the conversion
``robostral dataset from-bag`` makes of a recording: frames at the dataset's rate on the camera's
clock, the state from the joint state nearest each frame, the action the command in force (arm
joints from the latest arm command, the gripper's drive from the latest gripper command). A take
begins with the arm and gripper held where they are (the joint state at Record), so every frame
from the first has an action. A take ends by itself after ``MAX_SECONDS``. A take the policy moved
the arm in (an instruction was published) cannot be kept: its commands are not the pendant's.

The dataset's rate, image size and cameras: the deployed policy's (its card, the bundle the policy
node's ``bundle`` parameter names), or where there is none the pendant's control rate, the camera's
square and whether a wrist camera publishes. The pendant may append to an existing dataset only with
that dataset's.
"""

from __future__ import annotations

import dataclasses
import queue
import threading
import time
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from rcl_interfaces.srv import GetParameters
from rclpy.parameter import parameter_value_to_python
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import JointState
from std_msgs.msg import String
from trajectory_msgs.msg import JointTrajectory

from robostral.bundle.card import BundleError, Card, read_card
from robostral.data import DatasetSpec, Episode
from robostral.pendant.errors import Conflict, Unavailable
from robostral.pendant.motion.planner import Planner
from robostral.recording.bag_reader import BagMessage, Recording
from robostral.ros import contract
from robostral.ros.from_bag import FromBagConfig, recording_episodes
from robostral.ros.messages import MAX_BYTES, TRANSPORTS, Transport, bounded_message, image_msg, trajectory_msg
from robostral.ros.policy_node import CAMERA_PARAMETERS, CAMERA_TOPICS, camera_spec
from robots import RobotDescription
from sim.camera_input import CameraInput

if TYPE_CHECKING:
    from robostral.ros.pendant_bridge import PendantBridge

POLICY_NODE = "policy_node"
MAX_SECONDS = 300.0  # a take ends by itself after this long: it is held in memory
MAX_QUEUED = 512  # messages waiting for the worker; past this they are dropped (and a take with a dropped command
# or joint state cannot be kept)
FRESH = 1.0  # s: a camera that sent nothing for this long is not publishing
CALL_TIMEOUT = 2.0  # s for the policy node to say its parameters
DISCOVERY = 2.0  # s for the policy node's parameter service to be found (a pendant that has just started)
COMMANDS_QOS = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)  # the pendant's own, none missed
MAX_GAP = 0.5  # s without camera images that would end an episode (from-bag's): a take with such a gap is refused

# Each subscribed topic: its message type, its QoS, and what it is in a take.
CAMERA_TRANSPORTS = {transport.topic(base): (camera, transport) for camera, base in CAMERA_TOPICS.items()
                     for transport in TRANSPORTS.values()}


@dataclasses.dataclass
class _Take:
    """One take: the messages a recording of it would hold, the images already as the policy sees them."""

    spec: DatasetSpec
    robot: RobotDescription
    robot_reference: str  # the supervisor's robot parameter (a name, or a description file)
    cameras: dict[str, CameraInput]  # camera (camera, wrist_camera) -> what the policy sees of it
    started: int  # ns since the epoch (receive-time clock)
    started_monotonic: float
    messages: dict[str, list[BagMessage]] = dataclasses.field(default_factory=dict)
    images: dict[tuple[str, str], list[BagMessage]] = dataclasses.field(default_factory=dict)  # (camera, transport)
    ended: str = ""  # why it ended by itself
    stopped: bool = False
    problem: str = ""
    dropped: int = 0

    def add(self, topic: str, log_time: int, data: bytes) -> None:
        """One received message, from the worker thread."""
        if topic in CAMERA_TRANSPORTS:
            camera, transport = CAMERA_TRANSPORTS[topic]
            if camera == "wrist_camera" and not self.spec.wrist:
                return
            try:
                msg, pixels, bgr = transport.receive(data)
                seen = self.cameras[camera].apply(pixels, self.spec.image_size, bgr)
            except ValueError as error:
                self.problem = self.problem or f"{topic}: {error}"
                return
            self.images.setdefault((camera, transport.suffix), []).append(
                BagMessage(log_time, log_time, image_msg(seen, msg.header.stamp)))
            return
        msg_type = {contract.JOINT_STATES: JointState, contract.PENDANT_TRAJECTORY: JointTrajectory,
                    contract.INSTRUCTION: String}[topic]
        try:
            msg = bounded_message(data, msg_type)
        except ValueError as error:
            self.problem = self.problem or f"{topic}: {error}"
            return
        if topic == contract.INSTRUCTION:
            if msg.data:
                self.problem = self.problem or (f"the policy was given the instruction {msg.data!r} during the "
                                                "demonstration: it moved the arm, not the pendant")
        elif topic == contract.JOINT_STATES:
            self.messages.setdefault(topic, []).append(BagMessage(log_time, log_time, msg))
        else:  # the pendant's command: its arm part and its gripper part, as the supervisor splits it
            self.command(msg, log_time)

    def command(self, msg: JointTrajectory, log_time: int) -> None:
        names = set(msg.joint_names)
        if names >= set(self.robot.arm_joints):
            self.messages.setdefault(contract.ARM_TRAJECTORY, []).append(BagMessage(log_time, log_time, msg))
        if self.robot.gripper.drive in names:
            self.messages.setdefault(contract.GRIPPER_TRAJECTORY, []).append(BagMessage(log_time, log_time, msg))

    def front_frames(self) -> list[BagMessage]:
        """The front camera's frames: raw where any came raw (as from-bag takes them), else compressed."""
        return self.camera_frames("camera")

    def camera_frames(self, camera: str) -> list[BagMessage]:
        for transport in TRANSPORTS.values():
            frames = self.images.get((camera, transport.suffix))
            if frames:
                return frames
        return []


class DemonstrationRecorder:
    """Implements ``pendant.demonstrations.Recorder`` on the pendant's node (``ros.pendant_bridge.PendantBridge``)."""

    def __init__(self, bridge: PendantBridge, period: float) -> None:
        """``bridge``: the pendant's node, whose ``planner()`` and ``joint_state()`` it uses; ``period``: the
        pendant's control period (s), whose rate a dataset takes where no policy says another."""
        self.bridge = bridge
        self.period = period
        self._lock = threading.Lock()
        self._take: _Take | None = None
        self._queue: queue.Queue = queue.Queue(maxsize=MAX_QUEUED)
        self._heard: dict[str, float] = {}  # topic -> monotonic time of its latest message
        self._latest_front: tuple[Transport, bytes] | None = None  # to measure the camera's frame
        types = {contract.JOINT_STATES: (JointState, contract.JOINT_STATES_QOS),
                 contract.PENDANT_TRAJECTORY: (JointTrajectory, COMMANDS_QOS),
                 contract.INSTRUCTION: (String, contract.LATCHED_QOS),
                 **{topic: (transport.msg_type, contract.IMAGE_QOS)
                    for topic, (_, transport) in CAMERA_TRANSPORTS.items()}}
        for topic, (msg_type, qos) in types.items():
            bridge.create_subscription(msg_type, topic, partial(self._receive, topic, MAX_BYTES[msg_type]), qos,
                                       raw=True)
        self._parameters = bridge.create_client(GetParameters, f"/{POLICY_NODE}/get_parameters")
        self._worker = threading.Thread(target=self._work, name="demonstration-recorder", daemon=True)
        self._worker.start()

    # -- pendant.demonstrations.Recorder ---------------------------------------------------------
    def robot(self) -> tuple[str, tuple[str, ...]]:
        robot = self.bridge.planner().robot  # Unavailable without a supervisor
        return robot.name, robot.joint_names

    def cell_spec(self) -> DatasetSpec:
        planner: Planner = self.bridge.planner()  # Unavailable without a supervisor
        robot = planner.robot
        card = self._card(robot)
        if card is not None:
            return DatasetSpec(robot.name, robot.joint_names, round(card.control_hz), card.image_size,
                               card.wrist_camera)
        wrist = self._publishing("wrist_camera")
        return DatasetSpec(robot.name, robot.joint_names, round(1.0 / self.period), self._camera_side(), wrist)

    def start(self, spec: DatasetSpec) -> None:
        planner: Planner = self.bridge.planner()
        for camera in ("camera", "wrist_camera") if spec.wrist else ("camera",):
            if not self._publishing(camera, wait=FRESH):  # a pendant that has just started has heard none yet
                raise Unavailable(f"no images from the {camera.replace('_', ' ')} ({CAMERA_TOPICS[camera]}) in the "
                                  f"last {FRESH:g} s" + (": the dataset takes wrist camera images"
                                                         if camera == "wrist_camera" else ""))
        cameras = self._camera_inputs()
        q = self._joint_positions(wait=FRESH)
        with self._lock:
            if self._take is not None:
                raise Conflict("a demonstration is being recorded already")
            now = time.time_ns()
            take = _Take(spec, planner.robot, planner.safety.robot, cameras, now, time.monotonic())
            # the command in force when the take starts: hold the arm and the gripper where they are
            arm = len(planner.robot.arm_joints)
            take.command(trajectory_msg(planner.robot.arm_joints, q[None, :arm], [self.period]), now)
            take.command(trajectory_msg((planner.robot.gripper.drive,), q[None, -1:], [self.period]), now)
            self._take = take

    def stop(self) -> None:
        take = self._take
        if take is None:
            return
        take.stopped = True
        self._drain()

    def progress(self) -> dict:
        take = self._take
        if take is None:
            return {}
        frames = take.front_frames()
        stamps = [f.message.header.stamp.sec + f.message.header.stamp.nanosec * 1e-9 for f in frames[:1] + frames[-1:]]
        problem = take.problem or (f"{take.dropped} messages were dropped: the recorder fell behind"
                                   if take.dropped else "")
        return {"seconds": stamps[-1] - stamps[0] if stamps else 0.0, "frames": len(frames), "ended": take.ended,
                "problem": problem}

    def episode(self, instruction: str) -> Episode:
        take = self._take
        if take is None or not take.stopped:
            raise Conflict("no stopped demonstration to keep")
        self._drain()
        problem = self.progress()["problem"]
        if problem:
            raise Conflict(f"this demonstration cannot be kept: {problem}; discard it")
        messages = {topic: list(found) for topic, found in take.messages.items()}
        messages[contract.INSTRUCTION] = [BagMessage(take.started - 1, take.started - 1, String(data=instruction))]
        messages[contract.CAMERA_IMAGE] = take.front_frames()
        if take.spec.wrist:
            messages[contract.WRIST_CAMERA_IMAGE] = take.camera_frames("wrist_camera")
            if not messages[contract.WRIST_CAMERA_IMAGE]:
                raise Conflict("this demonstration cannot be kept: no wrist camera image came in, and the dataset "
                               "takes them; discard it")
        name = f"pendant-{take.started}"
        config = FromBagConfig(bag=name, out="", robot=take.robot_reference, rate=take.spec.fps, max_gap=MAX_GAP,
                               image_size=take.spec.image_size)  # the images are what the policy sees already
        try:
            episodes = recording_episodes(Recording(Path(name), {}, messages, []), take.robot, config)
        except ValueError as error:  # BagConversionError: no frames, a malformed message
            raise Conflict(f"this demonstration cannot be kept: {error}") from None
        if len(episodes) != 1:
            raise Conflict(f"this demonstration cannot be kept: the camera sent nothing for more than {MAX_GAP:g} s "
                           "during it (its frames would not follow on); discard it")
        return episodes[0]

    def drop(self) -> None:
        with self._lock:
            if self._take is not None:
                self._take.stopped = True
            self._take = None
        self._drain()

    # -- receiving ----------------------------------------------------------------------------------
    def _receive(self, topic: str, limit: int, data: bytes) -> None:
        """Every message on ``topic`` (the executor's thread: no work here but a look and a queue)."""
        now = time.monotonic()
        self._heard[topic] = now
        if topic in CAMERA_TRANSPORTS and CAMERA_TRANSPORTS[topic][0] == "camera":
            self._latest_front = (CAMERA_TRANSPORTS[topic][1], data)
        take = self._take
        if take is None or take.stopped or len(data) > limit:
            return
        if now - take.started_monotonic > MAX_SECONDS:
            take.ended = take.ended or f"it reached the {MAX_SECONDS:g} s limit"
            return
        try:
            self._queue.put_nowait((take, topic, time.time_ns(), data))
        except queue.Full:
            if topic not in CAMERA_TRANSPORTS:  # a few frames fewer is harmless; a lost command or state is not
                take.dropped += 1

    def _work(self) -> None:
        while True:
            take, topic, log_time, data = self._queue.get()
            try:
                take.add(topic, log_time, data)
            except Exception as error:  # noqa: BLE001 -- one bad message must not end the recorder
                take.problem = take.problem or f"{topic}: {error}"
            finally:
                self._queue.task_done()

    def _drain(self, timeout: float = 10.0) -> None:
        """Until the worker has taken everything queued so far."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.005)

    # -- the cell -------------------------------------------------------------------------------------
    def _publishing(self, camera: str, wait: float = 0.0) -> bool:
        """Whether ``camera`` sent a frame in the last FRESH s, or does within ``wait`` s."""
        deadline = time.monotonic() + wait
        while True:
            now = time.monotonic()
            if any(now - self._heard.get(topic, -np.inf) < FRESH
                   for topic, (name, _) in CAMERA_TRANSPORTS.items() if name == camera):
                return True
            if now >= deadline:
                return False
            time.sleep(0.05)

    def _joint_positions(self, wait: float) -> np.ndarray:
        """The arm's joint positions (robot order) now, or within ``wait`` s; Unavailable without a fresh state."""
        deadline = time.monotonic() + wait
        while True:
            try:
                return self.bridge.joint_state()[0]
            except Unavailable:
                if time.monotonic() >= deadline:
                    raise
            time.sleep(0.05)

    def _camera_side(self) -> int:
        """The side of the front camera's square as the policy node crops it (no resize)."""
        latest = self._latest_front
        if latest is None:
            raise Unavailable(f"no images from the camera ({contract.CAMERA_IMAGE}) yet")
        spec = self._camera_inputs()["camera"]
        if spec.crop is not None:
            return spec.crop[3]
        _, pixels, _ = latest[0].receive(latest[1])
        return int(pixels.shape[0])

    def _policy_parameters(self, names: Sequence[str]) -> dict[str, Any]:
        """The policy node's values of ``names``; {} where it does not answer (no policy node in the graph)."""
        client = self._parameters
        if not client.wait_for_service(timeout_sec=DISCOVERY):
            return {}
        future = client.call_async(GetParameters.Request(names=list(names)))
        done = threading.Event()
        future.add_done_callback(lambda _: done.set())
        if not done.wait(CALL_TIMEOUT) or future.result() is None:
            client.remove_pending_request(future)
            return {}
        values = [parameter_value_to_python(value) for value in future.result().values]
        return {name: value for name, value in zip(names, values) if value is not None}

    def _camera_inputs(self) -> dict[str, CameraInput]:
        """What the policy sees of each camera: the policy node's camera_* parameters (their defaults without it)."""
        names = [f"{camera}_{name}" for camera in CAMERA_TOPICS for name in CAMERA_PARAMETERS]
        values = {**{f"{camera}_{name}": default for camera in CAMERA_TOPICS
                     for name, default in CAMERA_PARAMETERS.items()}, **self._policy_parameters(names)}
        try:
            return {camera: camera_spec(camera, values.__getitem__)[0] for camera in CAMERA_TOPICS}
        except ValueError as error:
            raise Conflict(f"the policy node's camera parameters: {error}") from None

    def _card(self, robot: RobotDescription) -> Card | None:
        """The deployed policy's card, where the policy node names a bundle for this arm that has one."""
        bundle = self._policy_parameters(["bundle"]).get("bundle")
        try:
            card = read_card(bundle) if bundle else None
        except BundleError:
            return None
        return card if card is not None and card.robot == robot.name else None
