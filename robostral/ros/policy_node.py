"""policy_node: a lifecycle node that turns camera, joint state and instruction into joint trajectories.

configure loads and verifies the bundle (a tampered one fails the transition, with
the reason in the log and on /diagnostics); activate starts the control timer at
the card's rate; deactivate stops commanding. A control step runs when a new camera
image arrives (at most at the card's rate, so that the image is fresh, not up to a
period old) and otherwise on the timer: it takes the latest image and joint state,
runs the ONNX runtime with temporal ensembling, clips the targets into the envelope
the safety supervisor enforces (``robostral.safety.envelope``: joint limits less the
margin, the tool point inside the workspace box, from the same ``SafetyConfig``: the
``safety_config`` parameter, which the supervisor reads too) and publishes the ensembled
action chunk as one ``JointTrajectory`` for the safety supervisor, its header stamped
with the stamp of the camera image it was computed from (so that the image-to-command
latency can be measured from outside, as bench/ros_latency.py does). When an input is
missing, malformed or older than ``stale_timeout`` it publishes nothing and says why;
for a bundle that takes a wrist camera image, /wrist_camera/image_raw is one more such
input. A camera's frames come raw (``sensor_msgs/Image``) or, with ``camera_transport``
(``wrist_camera_transport``) "compressed", as JPEG or PNG ``CompressedImage`` on
``<topic>/compressed``; a frame that does not decode is dropped like a malformed one.
An instruction that ``sim.language.check_instruction`` refuses (read from the
serialized message: rclpy would silently cut it at a NUL byte or replace invalid UTF-8)
is refused on /diagnostics and ends the previous one: nothing is commanded until a
valid one comes (an empty one clears). Inference and end-to-end
(image stamp to publish) latency p50/p99 go to /diagnostics every second.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import String
from trajectory_msgs.msg import JointTrajectory

from robostral.bundle.card import BundleError, Card
from robostral.ros import contract
from robostral.ros.instruct import received_instruction
from robostral.ros.latency import LatencyWindow
from robostral.ros.messages import (
    TRANSPORTS,
    Transport,
    bounded_message,
    diagnostic_array,
    image_msg,
    joint_state_from_msg,
    seconds,
    trajectory_msg,
)
from robostral.ros.spin import run_node
from robostral.runtime import PolicyRuntime
from robostral.safety import SafetyConfig
from robostral.safety.envelope import clip_chunk
from sim.camera_input import CameraInput
from sim.config import from_yaml
from sim.proprio import proprio_state

REPORT_PERIOD = 1.0  # s between routine diagnostics
INPUT_VIEW_PERIOD = 0.5  # s between frames of what the policy sees, for the pendant
# What the node reports when configure fails (the demo and tests read it): the bundle, its envelope or a
# camera's input spec refused.
BUNDLE_REFUSED, ENVELOPE_REFUSED, CAMERA_INPUT_REFUSED = ("bundle refused", "safety envelope refused",
                                                          "camera input refused")
CONFIGURE_FAILED = (BUNDLE_REFUSED, ENVELOPE_REFUSED, CAMERA_INPUT_REFUSED)
# Each camera's base topic, by the prefix of its parameters (camera_crop, wrist_camera_rotate, ...).
CAMERA_TOPICS = {"camera": contract.CAMERA_IMAGE, "wrist_camera": contract.WRIST_CAMERA_IMAGE}
CAMERAS = tuple(CAMERA_TOPICS)
# What the policy sees of each camera (sim.camera_input.CameraInput): a crop (x, y, width, height in the camera's
# pixels; all 0 = the whole frame, which must then be square), a turn (0, 90, 180 or 270 degrees clockwise) and a
# mirror, then the resize to the card's input; and how its frames come (messages.TRANSPORTS: "raw" Image on the
# base topic, "compressed" CompressedImage on <base>/compressed). Each parameter's default.
CAMERA_PARAMETERS = {"crop": [0, 0, 0, 0], "rotate": 0, "mirror": False, "transport": "raw"}


def camera_spec(camera: str, parameter: Callable[[str], Any]) -> tuple[CameraInput, Transport]:
    """A camera's input spec and transport from the values ``parameter(name)`` gives its parameters
    (``camera_crop``, ...); ValueError naming the camera where they cannot be one."""
    try:
        crop = list(parameter(f"{camera}_crop"))  # whole pixels: CameraInput refuses 4.5
        spec = CameraInput(crop=None if crop == [0, 0, 0, 0] else tuple(crop),
                           rotate=parameter(f"{camera}_rotate"), mirror=bool(parameter(f"{camera}_mirror")))
        transport = parameter(f"{camera}_transport")
        if transport not in TRANSPORTS:
            raise ValueError(f"transport must be one of {', '.join(TRANSPORTS)}, got {transport!r}")
    except (ValueError, TypeError) as error:
        raise ValueError(f"{camera}: {error}") from None
    return spec, TRANSPORTS[transport]


def parameters_in_file(path: str | os.PathLike | None) -> dict[str, Any]:
    """The policy node's parameters as a ROS params file (launch/params/hardware.yaml) sets them, the cameras'
    defaults where it does not (or where there is no file): the deployment's own camera specs, for the tools that
    run without the node (``robostral camera preview``, ``dataset from-bag``)."""
    try:
        document = (yaml.safe_load(Path(path).read_text()) or {}) if path else {}
        parameters = dict(document.get("policy_node", {}).get("ros__parameters", {}))
    except (yaml.YAMLError, AttributeError, TypeError, ValueError) as error:
        raise ValueError(f"{path}: not a ROS params file with a policy_node section ({error})") from None
    defaults = {f"{camera}_{name}": value for camera in CAMERAS for name, value in CAMERA_PARAMETERS.items()}
    return {**defaults, **parameters}


class PolicyNode(LifecycleNode):
    def __init__(self) -> None:
        super().__init__("policy_node")
        self.declare_parameter("bundle", "policies/robostral-s-panda")
        self.declare_parameter("stale_timeout", 0.2)  # s: older inputs stop the policy
        self.declare_parameter("threads", 1)  # ONNX Runtime intra-op threads
        self.declare_parameter("rate", 0.0)  # Hz; 0 = the card's control rate
        # YAML of robostral.safety.SafetyConfig ('' = its defaults): the supervisor's, set once for both (/**)
        self.declare_parameter("safety_config", "")
        for camera in CAMERAS:  # see CAMERA_PARAMETERS
            for name, default in CAMERA_PARAMETERS.items():
                self.declare_parameter(f"{camera}_{name}", default)
        self.diagnostics = self.create_publisher(DiagnosticArray, contract.DIAGNOSTICS, contract.DIAGNOSTICS_QOS)
        self.input_view = self.create_publisher(Image, contract.POLICY_CAMERA_INPUT, contract.IMAGE_QOS)
        self.input_shown = 0.0  # monotonic s when input_view last went out
        self.runtime: PolicyRuntime | None = None
        self.timer = None
        self.trajectories = None
        self.status = ("warn", "unconfigured")
        self.last_report = 0.0

    # -- lifecycle ------------------------------------------------------------------------------
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        bundle = self.get_parameter("bundle").value
        try:
            runtime = PolicyRuntime(bundle, threads=int(self.get_parameter("threads").value))
        except (BundleError, FileNotFoundError, ValueError) as error:
            self.get_logger().error(f"configure failed: bundle {bundle} refused: {error}")
            self.report("error", f"{BUNDLE_REFUSED}: {error}", force=True)
            return TransitionCallbackReturn.FAILURE
        card = runtime.card
        try:
            self.load_envelope(card)
        except (OSError, ValueError, TypeError, yaml.YAMLError) as error:
            self.get_logger().error(f"configure failed: safety envelope: {error}")
            self.report("error", f"{ENVELOPE_REFUSED}: {error}", force=True)
            return TransitionCallbackReturn.FAILURE
        try:
            (self.camera_input, self.camera_transport), (self.wrist_camera_input, self.wrist_camera_transport) = (
                camera_spec(camera, lambda name: self.get_parameter(name).value) for camera in CAMERAS)
        except ValueError as error:
            self.get_logger().error(f"configure failed: camera input: {error}")
            self.report("error", f"{CAMERA_INPUT_REFUSED}: {error}", force=True)
            return TransitionCallbackReturn.FAILURE
        self.runtime = runtime
        self.joint_names = list(card.joint_names)
        self.rate = float(self.get_parameter("rate").value) or self.runtime.control_hz
        self.stale_timeout = float(self.get_parameter("stale_timeout").value)  # read once, not every step
        self.last_step = 0.0  # monotonic s of the last control step
        self.controller = self.runtime.controller(1)
        self.image: tuple[float, np.ndarray, Time] | None = None  # (stamp s, pixels, header stamp)
        self.joints: tuple[float, np.ndarray, np.ndarray] | None = None  # (stamp s, proprio, positions)
        self.wrist_image: tuple[float, np.ndarray] | None = None  # (stamp s, pixels), for a bundle that takes one
        self.instruction = ""
        self.inference, self.end_to_end = LatencyWindow(), LatencyWindow()
        self.problems: dict[str, str] = {}  # input -> why its last message was dropped
        self.trajectories = self.create_lifecycle_publisher(
            JointTrajectory, contract.POLICY_TRAJECTORY, contract.POLICY_TRAJECTORY_QOS
        )
        self.subscriptions_ = [
            self.camera_subscription(self.camera_transport, "camera", self.on_image),
            self.create_subscription(JointState, contract.JOINT_STATES, self.on_joints, contract.JOINT_STATES_QOS,
                                     raw=True),
            self.create_subscription(String, contract.INSTRUCTION, self.on_instruction, contract.LATCHED_QOS, raw=True),
        ]
        if self.runtime.wrist_shape is not None:
            self.subscriptions_.append(
                self.camera_subscription(self.wrist_camera_transport, "wrist_camera", self.on_wrist_image))
        self.get_logger().info(f"configured: {card.name} ({card.robot}, {self.rate:g} Hz) from {bundle}")
        if card.gate_name == "preview":
            self.get_logger().warning(f"{card.name} passed only the preview gate: a policy under development, "
                                      "not for a cell that runs unattended")
        self.report("ok", "configured", force=True)
        return TransitionCallbackReturn.SUCCESS

    def camera_subscription(self, transport: Transport, camera: str, callback: Callable[[bytes], None]):
        """The serialized frames of ``camera`` as ``transport`` carries them (``<base topic>/compressed``, ...)."""
        return self.create_subscription(transport.msg_type, transport.topic(CAMERA_TOPICS[camera]), callback,
                                        contract.IMAGE_QOS, raw=True)

    def load_envelope(self, card: Card) -> None:
        """The supervisor's ``SafetyConfig`` for the card's robot, its limits and tool kinematics."""
        path = self.get_parameter("safety_config").value
        config = replace(from_yaml(SafetyConfig, path) if path else SafetyConfig(), robot=card.robot)
        limits = config.joint_limits()
        if list(limits.names) != card.joint_names:
            raise ValueError(f"the card's joints {card.joint_names} are not {config.robot}'s {list(limits.names)}")
        self.safety, self.limits, self.kinematics = config, limits, config.description.tool_kinematics()

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.controller.reset()
        self.timer = self.create_timer(1.0 / self.rate, self.on_timer)
        self.report("ok", "active", force=True)
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.stop_timer()
        self.report("ok", "inactive: not commanding", force=True)
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.stop_timer()
        for subscription in self.subscriptions_:
            self.destroy_subscription(subscription)
        self.destroy_publisher(self.trajectories)
        self.runtime = None
        self.report("warn", "unconfigured", force=True)
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.stop_timer()
        return TransitionCallbackReturn.SUCCESS

    def stop_timer(self) -> None:
        if self.timer is not None:
            self.destroy_timer(self.timer)
            self.timer = None

    # -- inputs -----------------------------------------------------------------------------------
    def on_image(self, raw: bytes) -> None:
        """A serialized camera frame, raw or compressed (an oversized one refused unread); a fresh one may trigger a
        control step."""
        try:
            msg, frame, bgr = self.camera_transport.receive(raw)
            pixels = self.camera_input.apply(frame, self.runtime.image_shape[0], bgr)
            self.image = (seconds(msg.header.stamp), pixels, msg.header.stamp)
            self.problems.pop("image", None)
            if time.monotonic() - self.input_shown >= INPUT_VIEW_PERIOD:  # for the pendant's view of it
                self.input_view.publish(image_msg(pixels, msg.header.stamp, msg.header.frame_id))
                self.input_shown = time.monotonic()
        except ValueError as error:
            self.problems["image"] = f"camera image dropped: {error}"
            return
        if self.timer is not None and time.monotonic() - self.last_step >= 0.8 / self.rate:
            self.step()

    def on_wrist_image(self, raw: bytes) -> None:
        try:
            msg, frame, bgr = self.wrist_camera_transport.receive(raw)
            pixels = self.wrist_camera_input.apply(frame, self.runtime.wrist_shape[0], bgr)
            self.wrist_image = (seconds(msg.header.stamp), pixels)
            self.problems.pop("wrist image", None)
        except ValueError as error:
            self.problems["wrist image"] = f"wrist camera image dropped: {error}"

    def on_joints(self, raw: bytes) -> None:
        """A serialized JointState: an oversized one is refused before it is deserialized."""
        try:
            msg = bounded_message(raw, JointState)
            positions, velocities = joint_state_from_msg(msg, self.joint_names)
            self.joints = (seconds(msg.header.stamp), proprio_state(positions, velocities), positions)
            self.problems.pop("joints", None)
        except ValueError as error:
            self.problems["joints"] = f"joint state dropped: {error}"

    def on_instruction(self, raw: bytes) -> None:
        """A serialized std_msgs/String: refused unless it is '' (clear) or an instruction the policy can embed."""
        try:
            text = received_instruction(raw)
            if text:
                self.runtime.embed(text)  # fails here, not in the control loop, on an unusable instruction
        except ValueError as error:
            self.problems["instruction"] = f"instruction refused: {error}"
            self.get_logger().warning(self.problems["instruction"], throttle_duration_sec=1.0)
            self.set_instruction("")  # the previous one does not go on: nothing is commanded
            self.report("warn", self.problems["instruction"])
            return
        self.problems.pop("instruction", None)
        if self.set_instruction(text):
            self.get_logger().info(f"instruction: {text!r}" if text else "instruction cleared: holding")

    def set_instruction(self, text: str) -> bool:
        """Follow ``text`` ('' for none) from now on; whether it is a new one."""
        if text == self.instruction:
            return False
        self.instruction = text
        self.controller.reset()  # a new task: the old plan is no guide
        return True

    # -- control ----------------------------------------------------------------------------------
    def on_timer(self) -> None:
        """Step when images stopped driving the loop (and so say why nothing is commanded)."""
        if time.monotonic() - self.last_step >= 1.2 / self.rate:
            self.step()

    def step(self) -> None:
        self.last_step = time.monotonic()
        now = self.get_clock().now().nanoseconds * 1e-9
        reason = self.why_not_command(now)
        if reason:
            self.report("warn", reason)
            return
        image_stamp, pixels, stamp = self.image
        started = time.perf_counter()
        try:
            wrist = None if self.runtime.wrist_shape is None else self.wrist_image[1][None]
            chunk = self.controller.act_chunk(pixels[None], self.joints[1][None], [self.instruction], None, wrist)[0]
        except ValueError as error:
            self.report("error", f"inference refused: {error}", force=True)
            return
        self.inference.add(time.perf_counter() - started)
        chunk = clip_chunk(self.joints[2], chunk, limits=self.limits, kinematics=self.kinematics, config=self.safety)
        times = (np.arange(len(chunk)) + 1) / self.rate
        msg = trajectory_msg(self.joint_names, chunk, times, stamp=stamp)  # stamped with its observation
        self.trajectories.publish(msg)
        self.end_to_end.add(self.get_clock().now().nanoseconds * 1e-9 - image_stamp)
        self.report("ok", f"commanding: {self.instruction}")

    def why_not_command(self, now: float) -> str:
        """Why this tick must not command (empty when it may)."""
        if self.problems:
            return "; ".join(self.problems.values())
        if not self.instruction:
            return "waiting for an instruction"
        timeout = self.stale_timeout
        inputs = [("camera image", self.image), ("joint state", self.joints)]
        if self.runtime.wrist_shape is not None:
            inputs.append(("wrist camera image", self.wrist_image))
        for name, latest in inputs:
            if latest is None:
                return f"no {name} yet: not commanding"
            age = now - latest[0]
            if age > timeout:
                return f"{name} is {age:.2f} s old (timeout {timeout:g} s): not commanding"
        return ""

    def report(self, level: str, message: str, force: bool = False) -> None:
        """Publish this node's status: at once when it changes or ``force``, else once per second."""
        now = time.monotonic()
        if not force and (level, message) == self.status and now - self.last_report < REPORT_PERIOD:
            return
        self.status, self.last_report = (level, message), now
        values = {}
        if self.runtime is not None:
            values = {"bundle": self.get_parameter("bundle").value, "instruction": self.instruction,
                      **self.inference.summary("inference"), **self.end_to_end.summary("end_to_end")}
        stamp = self.get_clock().now().to_msg()
        self.diagnostics.publish(diagnostic_array(stamp, "policy_node", level, message, values))


def main(argv: list[str] | None = None) -> None:
    run_node(PolicyNode, argv)


if __name__ == "__main__":
    main()
