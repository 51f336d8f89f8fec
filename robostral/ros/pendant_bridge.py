"""The pendant's ROS 2 side, its only rclpy code: the cell (``pendant.web.cell.PendantCell``) the web app drives.

In: the latest joint state and camera frame (JPEG, encoded at most ``CAMERA_FPS`` times a second,
for the page), the supervisor's latched state, the nodes' ``/diagnostics`` (sim success and
instruction, policy latency), and alarms with their times (supervisor rejections, e-stops, faults,
node warnings). Out: motions streamed to ``PENDANT_TRAJECTORY`` (``streaming.MotionStreamer``, ticked
by a timer at the control rate), e-stop and reset (the supervisor's services), its ``speed_override``
and ``manual_mode`` parameters, instructions, and the deployed policy (the policy node's lifecycle).
Service calls wait at most ``CALL_TIMEOUT`` s and raise ``Unavailable`` when a node does not answer.
The node starts commanding nothing: after a restart the arm stays held where it is.
"""

from __future__ import annotations

import collections
import dataclasses
import io
import threading
import time
from collections.abc import Callable, Sequence
from functools import partial

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState, GetState
from PIL import Image as PilImage
from rcl_interfaces.srv import GetParameters, SetParameters
from rclpy.node import Node
from rclpy.parameter import Parameter, parameter_value_to_python
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import String
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

from robostral.bundle.promote import POLICIES_DIR
from robostral.pendant.errors import BadRequest, Conflict, Unavailable
from robostral.pendant.motion.planner import Planner, PlannerConfig
from robostral.pendant.motion.streaming import Chunk, Handle, HeldMotion, Motion, MotionStreamer
from robostral.ros import contract
from robostral.ros.messages import (
    LEVELS,
    diagnostic_values,
    image_from_msg,
    joint_state_from_msg,
    subscribe_bounded,
    trajectory_msg,
)
from robostral.safety import SafetyConfig
from sim.config import from_yaml

SUPERVISOR = "safety_supervisor"
POLICY_NODE = "policy_node"
SIM_DRIVER = "sim_driver"
CALL_TIMEOUT = 3.0  # s for a service to answer
LIFECYCLE_TIMEOUT = 30.0  # s for a lifecycle transition (configure loads and verifies a bundle)
JOINT_STATE_TIMEOUT = 0.5  # s: an older joint state is no basis for a motion
CAMERA_FPS = 12.0
ALARMS = 100  # kept, newest last
LATCHED_STATES = ("estopped", "fault")
LEVEL_NAMES = {value: name for name, value in LEVELS.items()}
MAX_SHOWN_JOINTS = 64  # more than any arm has: a longer joint state is junk, not drawn 20 times a second


def joint_view(msg: JointState, names: Sequence[str] | None, age: float) -> dict:
    """A joint state as the page shows it: ``valid`` with the positions (rad, m) of ``names`` in that order, or not
    ``valid`` with the ``reason``; either way its ``age`` (s). ``names`` None (the robot not known yet): the message's.

    Checked as the supervisor checks it (``joint_state_from_msg``), so the view is never NaN or infinite.
    """
    names = list(msg.name) if names is None else list(names)
    try:
        if len(names) > MAX_SHOWN_JOINTS:
            raise ValueError(f"joint state has {len(names)} joints; the pendant shows at most {MAX_SHOWN_JOINTS}")
        positions, _ = joint_state_from_msg(msg, names)
    except ValueError as error:
        return {"valid": False, "reason": str(error)[:200], "age": age}
    return {"valid": True, "names": names, "positions": [round(float(v), 5) for v in positions], "age": age}


def _fraction(text: str, previous: float | None) -> float | None:
    """``text`` as a number in [0, 1] (a speed override), or ``previous`` when it is none."""
    try:
        value = float(text)
    except ValueError:
        return previous
    return value if 0.0 <= value <= 1.0 else previous  # NaN compares false


@dataclasses.dataclass(frozen=True)
class Settings:
    """The pendant node's parameters."""

    db: str = "runs/pendant/pendant.db"
    host: str = "127.0.0.1"
    port: int = 8080
    policies_dir: str = POLICIES_DIR
    demonstrations: str = "datasets/demonstrations"  # the dataset the Demonstrate screen keeps demonstrations in
    tls_cert: str = ""  # PEM certificate (chain after it) and its key: HTTPS; both "" serve HTTP, on loopback only
    tls_key: str = ""


class PendantBridge(Node):
    """The pendant's node: implements ``PendantCell`` for the web app and the program runner."""

    def __init__(self, period: float = PlannerConfig.period) -> None:
        super().__init__("pendant")
        for field in dataclasses.fields(Settings):
            self.declare_parameter(field.name, field.default)
        self.settings = Settings(**{f.name: self.get_parameter(f.name).value for f in dataclasses.fields(Settings)})
        self.streamer = MotionStreamer(period)
        self.on_halt: Callable[[str], None] = lambda reason: None  # the runner's halt, set by the app
        self._lock = threading.Lock()
        self._planner: Planner | None = None
        self._override: float | None = None
        self._manual: bool | None = None
        self._joints: tuple[float, JointState] | None = None  # (monotonic receive time, message)
        self._image: tuple[int, Image] | None = None  # (sequence number, message)
        self._jpeg: tuple[int, bytes] | None = None
        self._jpeg_at = 0.0
        self._policy_input: Image | None = None  # what the policy sees of the camera, as the policy node shows it
        self._state = ("", "")  # the supervisor's (state, reason); ('', '') until it is heard
        self._instruction = ""
        self._diagnostics: dict[str, dict] = {}  # node -> level, message, values, at
        self._alarms: collections.deque[dict] = collections.deque(maxlen=ALARMS)

        self.trajectories = self.create_publisher(JointTrajectory, contract.PENDANT_TRAJECTORY,
                                                  contract.POLICY_TRAJECTORY_QOS)
        self.instructions = self.create_publisher(String, contract.INSTRUCTION, contract.LATCHED_QOS)
        # Bounded: an oversized message is refused unread (an alarm says so), so that no flood stalls the
        # executor that also carries the page's e-stop to the supervisor.
        for msg_type, topic, callback, qos in (
                (JointState, contract.JOINT_STATES, self._on_joints, contract.JOINT_STATES_QOS),
                (Image, contract.CAMERA_IMAGE, self._on_image, contract.IMAGE_QOS),
                (Image, contract.POLICY_CAMERA_INPUT, self._on_policy_input, contract.IMAGE_QOS),
                (String, contract.SUPERVISOR_STATE, self._on_state, contract.LATCHED_QOS),
                (String, contract.INSTRUCTION, self._on_instruction, contract.LATCHED_QOS),
                (DiagnosticArray, contract.DIAGNOSTICS, self._on_diagnostics, contract.DIAGNOSTICS_QOS)):
            subscribe_bounded(self, msg_type, topic, callback, qos, partial(self._refused, topic))
        self.clients_ = {service: self.create_client(srv_type, service) for srv_type, service in (
            (Trigger, contract.ESTOP), (Trigger, contract.RESET),
            (GetParameters, f"/{SUPERVISOR}/get_parameters"), (SetParameters, f"/{SUPERVISOR}/set_parameters"),
            (SetParameters, f"/{POLICY_NODE}/set_parameters"), (GetState, f"/{POLICY_NODE}/get_state"),
            (ChangeState, f"/{POLICY_NODE}/change_state"))}  # made once: destroying them while spinning races
        self._calls = {service: threading.Lock() for service in self.clients_}  # one request at a time per service
        self.create_timer(period, self._on_tick)

    # -- what the cell shows ------------------------------------------------------------------------
    def joint_state(self) -> tuple[np.ndarray, np.ndarray]:
        """Positions and velocities in the robot's order; Unavailable without a fresh joint state."""
        planner = self.planner()
        latest = self._joints
        if latest is None or time.monotonic() - latest[0] > JOINT_STATE_TIMEOUT:
            raise Unavailable("no fresh joint state from the arm: is its driver running?")
        try:
            return joint_state_from_msg(latest[1], planner.joint_names)
        except ValueError as error:
            raise Unavailable(f"the arm's joint state is unusable: {error}") from None

    def supervisor_state(self) -> tuple[str, str]:
        return self._state

    def instruction(self) -> str:
        """The instruction the policy follows now ('' when none)."""
        return self._instruction

    def speed_override(self) -> float:
        return self._override if self._override is not None else 0.0

    def skill_succeeded(self, text: str, since: float) -> bool:
        sim = self._diagnostics.get(SIM_DRIVER)
        return (sim is not None and sim["at"] >= since and sim["values"].get("instruction") == text
                and sim["values"].get("success") == "True")

    def camera_frame(self) -> tuple[int, bytes] | None:
        """(sequence number, JPEG) of the latest camera image, re-encoded at most CAMERA_FPS times a second."""
        image, now = self._image, time.monotonic()
        if image is None or (self._jpeg is not None and (self._jpeg[0] == image[0]
                                                          or now - self._jpeg_at < 1.0 / CAMERA_FPS)):
            return self._jpeg
        sequence, msg = image
        try:
            pixels = image_from_msg(msg)  # any colour encoding a camera sends
        except ValueError:
            return self._jpeg
        out = io.BytesIO()
        PilImage.fromarray(pixels).save(out, format="JPEG", quality=85)
        self._jpeg, self._jpeg_at = (sequence, out.getvalue()), now
        return self._jpeg

    def policy_input_png(self) -> bytes | None:
        """PNG of what the policy sees of the camera (its input, after crop and resize), or None before any."""
        msg = self._policy_input
        if msg is None:
            return None
        try:
            pixels = image_from_msg(msg)
        except ValueError:
            return None
        out = io.BytesIO()
        PilImage.fromarray(pixels).save(out, format="PNG")
        return out.getvalue()

    def snapshot(self) -> dict:
        """Everything the page shows, JSON-ready: no NaN or infinity, whatever the topics carry."""
        joints = None
        if self._joints is not None:
            at, msg = self._joints
            planner = self._planner  # not asked of the supervisor here: this runs 20 times a second
            joints = joint_view(msg, planner.joint_names if planner else None, round(time.monotonic() - at, 3))
        supervisor = self._diagnostics.get(SUPERVISOR, {}).get("values", {})
        policy = self._diagnostics.get(POLICY_NODE, {})
        sim = self._diagnostics.get(SIM_DRIVER, {})
        handle = self.streamer.current
        return {
            "joints": joints,
            "safety": {"state": self._state[0] or "unknown", "reason": self._state[1] or "no safety supervisor heard",
                       "speed_override": self._override, "manual_mode": self._manual,
                       "last": supervisor.get("last", "")},
            "instruction": self._instruction,
            "policy": {"level": policy.get("level", ""), "message": policy.get("message", "not running"),
                       **{k: v for k, v in policy.get("values", {}).items() if k.endswith("_ms") or k == "bundle"}},
            "sim": {"success": sim.get("values", {}).get("success") == "True", "message": sim.get("message", ""),
                    "instruction": sim.get("values", {}).get("instruction", "")},
            "motion": "held" if handle and isinstance(handle.motion, HeldMotion) else "planned" if handle else None,
            "alarms": list(self._alarms)[-20:],
        }

    def alarms(self) -> list[dict]:
        return list(self._alarms)

    # -- commands -----------------------------------------------------------------------------------
    def planner(self) -> Planner:
        """The planner for the supervisor's robot and safety config (asked of the supervisor once)."""
        with self._lock:
            if self._planner is None:
                values = self._get_parameters(SUPERVISOR, ["robot", "safety_config", "speed_override", "manual_mode"])
                path = values["safety_config"]
                base = from_yaml(SafetyConfig, path) if path else SafetyConfig()
                self._planner = Planner(dataclasses.replace(base, robot=values["robot"]))
                self._override, self._manual = float(values["speed_override"]), bool(values["manual_mode"])
            return self._planner

    def check_can_move(self) -> None:
        state, reason = self._state
        if not state:
            raise Unavailable("no state from the safety supervisor: is it running?")
        if state in LATCHED_STATES:
            raise Conflict(f"the arm is {state} ({reason}): an engineer must reset it first")

    def start_motion(self, motion: Motion, owner: object) -> Handle:
        self.check_can_move()
        return self.streamer.start(motion, owner)

    def stop_motion(self, reason: str, owner: object = None) -> None:
        """End the current motion (``owner``'s only, when given); the arm holds where its target is."""
        chunk = self.streamer.stop(reason, owner)
        if chunk is not None and self._state[0] not in LATCHED_STATES:
            self._publish(chunk)

    def heartbeat(self, owner: object) -> bool:
        """Keep ``owner``'s held motion going; False when it has none."""
        handle = self.streamer.current
        if handle is None or handle.owner is not owner or not isinstance(handle.motion, HeldMotion):
            return False
        handle.motion.heartbeat(time.monotonic())
        return True

    def estop(self) -> str:
        """Stop streaming and latch the supervisor's e-stop; its answer."""
        self.streamer.stop("e-stop")  # nothing to publish: the supervisor makes the controlled stop
        return self._trigger(contract.ESTOP)

    def reset(self) -> str:
        return self._trigger(contract.RESET)

    def set_speed_override(self, value: float) -> None:
        self.planner()
        self._set_parameter(SUPERVISOR, "speed_override", float(value))
        self._override = float(value)

    def set_manual_mode(self, on: bool) -> None:
        """The supervisor's manual mode (tool speed capped) on while jogging or teaching, off for programs."""
        self.planner()
        if self._manual != on:
            self._set_parameter(SUPERVISOR, "manual_mode", bool(on))
            self._manual = on

    def publish_instruction(self, text: str) -> None:
        self.instructions.publish(String(data=text))
        self._instruction = text

    def switch_policy(self, bundle: str) -> str:
        """Deactivate and clean up the policy node, set its ``bundle``, configure and activate it."""
        state = self._lifecycle_state()
        if state == "active":
            self._transition(Transition.TRANSITION_DEACTIVATE, "deactivate")
            state = "inactive"
        if state == "inactive":
            self._transition(Transition.TRANSITION_CLEANUP, "cleanup")
        self._set_parameter(POLICY_NODE, "bundle", bundle)
        self._transition(Transition.TRANSITION_CONFIGURE, "configure (the bundle was refused: see its log)")
        self._transition(Transition.TRANSITION_ACTIVATE, "activate")
        return self._lifecycle_state()

    # -- ROS callbacks ------------------------------------------------------------------------------
    def _on_tick(self) -> None:
        chunk = self.streamer.tick(self.speed_override(), time.monotonic())
        if chunk is not None:
            self._publish(chunk)

    def _on_joints(self, msg: JointState) -> None:
        self._joints = (time.monotonic(), msg)

    def _on_image(self, msg: Image) -> None:
        self._image = (self._image[0] + 1 if self._image else 0, msg)

    def _on_policy_input(self, msg: Image) -> None:
        self._policy_input = msg

    def _on_instruction(self, msg: String) -> None:
        self._instruction = msg.data

    def _on_state(self, msg: String) -> None:
        state, _, reason = msg.data.partition(": ")
        self._state = (state, reason)
        rejected = state == "holding" and reason.startswith("command rejected")
        if state in LATCHED_STATES or rejected:
            self._alarm(SUPERVISOR, f"{state}: {reason}")
            self.streamer.stop(f"{state}: {reason}")  # the supervisor holds the arm; nothing to publish
            self.on_halt(f"{state}: {reason}")

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            level = LEVEL_NAMES.get(status.level, "error")
            entry = {"level": level, "message": status.message, "at": time.monotonic(),
                     "values": diagnostic_values(status)}
            previous = self._diagnostics.get(status.name)
            self._diagnostics[status.name] = entry
            if status.name == SUPERVISOR and entry["values"].get("speed_override"):
                self._override = _fraction(entry["values"]["speed_override"], self._override)
            elif level in ("warn", "error") and status.name != SUPERVISOR and (
                    previous is None or previous["message"] != status.message):
                self._alarm(status.name, status.message)

    # -- helpers ------------------------------------------------------------------------------------
    def _publish(self, chunk: Chunk) -> None:
        self.trajectories.publish(trajectory_msg(chunk.joint_names, chunk.positions, chunk.times))

    def _alarm(self, source: str, text: str) -> None:
        self._alarms.append({"time": time.time(), "source": source, "text": text})

    def _refused(self, topic: str, reason: str) -> None:
        """An oversized or malformed message on ``topic``: one alarm per reason in a row, not one per message."""
        latest = self._alarms[-1] if self._alarms else None
        if latest is None or (latest["source"], latest["text"]) != (topic, reason):
            self._alarm(topic, reason)

    def _call(self, service: str, request, timeout: float = CALL_TIMEOUT):
        client = self.clients_[service]
        with self._calls[service]:
            if not client.wait_for_service(timeout_sec=timeout):
                raise Unavailable(f"{service} does not answer: is its node running?")
            future = client.call_async(request)
            done = threading.Event()
            future.add_done_callback(lambda _: done.set())
            if not done.wait(timeout) or future.result() is None:
                client.remove_pending_request(future)
                raise Unavailable(f"{service} did not answer within {timeout:g} s")
            return future.result()

    def _trigger(self, service: str) -> str:
        response = self._call(service, Trigger.Request())
        if not response.success:
            raise Conflict(f"{service}: {response.message}")
        return response.message

    def _get_parameters(self, node: str, names: list[str]) -> dict[str, object]:
        response = self._call(f"/{node}/get_parameters", GetParameters.Request(names=names))
        return {name: parameter_value_to_python(value) for name, value in zip(names, response.values)}

    def _set_parameter(self, node: str, name: str, value: object) -> None:
        request = SetParameters.Request(parameters=[Parameter(name, value=value).to_parameter_msg()])
        result = self._call(f"/{node}/set_parameters", request).results[0]
        if not result.successful:
            raise BadRequest(f"{node} refused {name} = {value!r}: {result.reason}")

    def _lifecycle_state(self) -> str:
        return self._call(f"/{POLICY_NODE}/get_state", GetState.Request()).current_state.label

    def _transition(self, transition: int, label: str) -> None:
        request = ChangeState.Request(transition=Transition(id=transition))
        if not self._call(f"/{POLICY_NODE}/change_state", request, LIFECYCLE_TIMEOUT).success:
            raise Conflict(f"{POLICY_NODE}: {label} failed")
