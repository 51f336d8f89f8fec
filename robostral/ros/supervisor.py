"""safety_supervisor: the only node that commands the controllers, and it trusts only itself.

Every trajectory from the policy node (or the pendant) is checked point by point
(``robostral.safety``: joint limits with a margin, velocity and acceleration limits,
the tool point's workspace box, NaN and unknown joints, at most ``MAX_POINTS`` points),
re-timed by the speed override, planned as a jerk-limited motion from the commanded state
(``smooth_motion``: positions, velocities and accelerations, checked again at every sample),
and only then split between the arm and gripper controllers. A rejected command, the
watchdog (no command while active) or a 0% override bring the arm to a controlled stop and
hold it. ``/robostral/estop`` latches a controlled
stop until ``/robostral/reset``.

What it trusts (docs/trust-model.md): its parameters, its clock and its own commands. Its
stops are planned from what it last commanded (``CommandedMotion``: what the controller is
executing), never from a received joint state; once that motion has ended the controller
holds its last point and nothing is sent. A joint state is used only when plausible
(``JointStateMonitor``); an implausible one latches a fault. It starts latched (fault
"started") after any start or restart: only an engineer's reset lets the arm move. The
e-stop, reset and watchdog run on a node and thread of their own (``<name>_urgent``), and
each command is checked outside the lock they take, so no message can delay them. The state (idle, active,
holding, estopped, fault, and why) is on ``/diagnostics`` and latched on
``/robostral/supervisor/state``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace

import numpy as np
import yaml
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import SetParametersResult
from rclpy.duration import Duration
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import String
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

from robostral.ros import contract
from robostral.ros.controller_output import INTERFACES, ActionOutput, TopicOutput
from robostral.ros.messages import (
    NonFinite,
    bounded_message,
    diagnostic_array,
    joint_state_from_msg,
    seconds,
    trajectory_from_msg,
)
from robostral.ros.spin import run_node
from robostral.safety import (
    Accepted,
    CommandedMotion,
    JointStateMonitor,
    Paused,
    SafetyConfig,
    StateMachine,
    Trajectory,
    TrajectoryPoint,
    check_trajectory,
    controlled_stop,
    smooth_motion,
)
from robots import DEFAULT_ROBOT
from robots.served import served_kinematics
from sim.config import from_yaml

WATCHDOG_PERIOD = 0.05  # s between watchdog checks
MAX_DESCRIPTION_BYTES = 4 * 1024 * 1024  # a URDF as served: an arm with its meshes named, far below this
REPORT_PERIOD = 1.0  # s between routine diagnostics
NOTE_PERIOD = 0.2  # s: a flood of bad messages republishes the diagnostics at most this often
STARTED = "started: latched until an engineer's reset (after any start or restart of the supervisor)"


class SafetySupervisor(Node):
    def __init__(self) -> None:
        super().__init__("safety_supervisor")
        self.declare_parameter("robot", DEFAULT_ROBOT)
        # YAML of robostral.safety.SafetyConfig ('' = its defaults): launch/params sets it once for every node (/**)
        self.declare_parameter("safety_config", "")
        self.declare_parameter("watchdog_timeout", SafetyConfig.watchdog_timeout)
        self.declare_parameter("speed_override", 1.0)  # 0..1
        self.declare_parameter("manual_mode", False)  # caps the tool speed (pendant jogging and teaching)
        # A real cell: the topic robot_state_publisher serves its URDF on ('' = none). The supervisor takes its
        # kinematics from there once it matches the description, and refuses a reset until it has.
        self.declare_parameter("robot_description_topic", "")
        # How commands reach the controllers: "topic" (joint_trajectory_controller's topics) or "action"
        # (FollowJointTrajectory and GripperCommand goals: the controller reports each goal's end).
        self.declare_parameter("controller_interface", "topic")
        self.declare_parameter("arm_action", contract.ARM_ACTION)
        self.declare_parameter("gripper_action", contract.GRIPPER_ACTION)
        self.declare_parameter("gripper_max_effort", 0.0)  # N for a GripperCommand goal; 0: the controller's limit
        self.config = self.load_config()
        self.limits = self.config.joint_limits()
        self.kinematics = self.config.description.tool_kinematics()
        self.speed_override = self.checked_override(self.get_parameter("speed_override").value)
        self.add_on_set_parameters_callback(self.on_set_parameters)
        # Everything below is shared by the callback threads: read and changed only under the lock.
        self.lock = threading.Lock()
        self.state = StateMachine(self.config.watchdog_timeout, self.now())
        self.state.fault(self.now(), STARTED)
        self.epoch = 0  # counts latches and resets: a command checked across one is not forwarded
        self.monitor = JointStateMonitor(self.limits, self.config)
        self.commanded = CommandedMotion(self.limits.names)
        self.braking = False  # a controlled stop is what the controller executes now
        self.positions: np.ndarray | None = None  # the latest believed joint state
        self.velocities = np.zeros(len(self.limits.names))
        self.joint_stamp = 0.0
        self.last_note = ""  # the last rejection or re-timing, for diagnostics
        self.last_report = 0.0
        description_topic = self.get_parameter("robot_description_topic").value
        # Why a reset is refused until the cell's URDF has matched the description (None: nothing to wait for).
        self.served_description: str | None = (
            f"waiting for the robot description on {description_topic}" if description_topic else None)

        # The e-stop, the reset and the watchdog live on a node of their own, spun on its own thread: no message
        # to this node can delay them (its own name: the process's remaps and parameters are this node's).
        self.urgent = Node(f"{self.get_name()}_urgent", use_global_arguments=False)
        self.output = self.controller_output()
        self.state_topic = self.create_publisher(String, contract.SUPERVISOR_STATE, contract.LATCHED_QOS)
        self.diagnostics = self.create_publisher(DiagnosticArray, contract.DIAGNOSTICS, contract.DIAGNOSTICS_QOS)
        # Raw bytes in: a message's size is checked before it is deserialized (bounded work per message).
        self.create_subscription(JointState, contract.JOINT_STATES, self.on_joint_state, contract.JOINT_STATES_QOS,
                                 raw=True)
        for topic in (contract.POLICY_TRAJECTORY, contract.PENDANT_TRAJECTORY):
            self.create_subscription(JointTrajectory, topic, self.on_trajectory, contract.POLICY_TRAJECTORY_QOS,
                                     raw=True)
        if description_topic:
            self.create_subscription(String, description_topic, self.on_robot_description, contract.LATCHED_QOS,
                                     raw=True)
        self.urgent.create_service(Trigger, contract.ESTOP, self.on_estop)
        self.urgent.create_service(Trigger, contract.RESET, self.on_reset)
        self.urgent.create_timer(WATCHDOG_PERIOD, self.on_watchdog)
        self.get_logger().warning(STARTED)
        self.publish_state()

    def controller_output(self) -> TopicOutput | ActionOutput:
        """The controllers' topics or actions, as ``controller_interface`` says; a bad choice ends the process."""
        interface = self.get_parameter("controller_interface").value
        if interface == "topic":
            return TopicOutput(self)
        if interface != "action":
            raise SystemExit(f"safety_supervisor: controller_interface {interface!r} refused: it is one of "
                             f"{', '.join(INTERFACES)}")
        effort = self.get_parameter("gripper_max_effort").value
        if isinstance(effort, bool) or not isinstance(effort, (int, float)) or not 0 <= effort < float("inf"):
            raise SystemExit(f"safety_supervisor: gripper_max_effort {effort!r} refused: a number of newtons >= 0")
        try:
            return ActionOutput(self, self.get_parameter("arm_action").value,
                                self.get_parameter("gripper_action").value, float(effort), self.on_controller_problem)
        except ImportError as error:
            raise SystemExit(f"safety_supervisor: controller_interface 'action' needs control_msgs ({error}): "
                             "`make interfaces` builds it") from None

    def load_config(self) -> SafetyConfig:
        """The safety config its parameters name; a bad one ends the process with the reason (nothing moves)."""
        path = self.get_parameter("safety_config").value
        try:
            base = from_yaml(SafetyConfig, path) if path else SafetyConfig()
            return replace(base, robot=self.get_parameter("robot").value,
                           watchdog_timeout=float(self.get_parameter("watchdog_timeout").value))
        except (OSError, ValueError, TypeError, yaml.YAMLError) as error:
            raise SystemExit(f"safety_supervisor: safety_config {path!r} refused: {error}") from None

    # -- inputs -----------------------------------------------------------------------------------
    def on_robot_description(self, data: bytes) -> None:
        """The cell's URDF: the kinematics from now on if it matches the description, else a fault that stays."""
        try:
            text = bounded_message(data, String, MAX_DESCRIPTION_BYTES).data
            kinematics = served_kinematics(self.config.description, text)
        except ValueError as error:
            with self.lock:
                self.served_description = f"robot description refused: {error}"
                self.latch_fault(self.now(), self.served_description)
            return
        with self.lock:
            self.kinematics = kinematics
            first, self.served_description = self.served_description is not None, None
        if first:
            self.get_logger().info(f"kinematics from the served robot description: it matches "
                                   f"{self.config.description.source}")

    def on_joint_state(self, data: bytes) -> None:
        """Believe a joint state only if it is plausible; an implausible one latches a fault."""
        now, clock = self.now(), self.clock()
        try:
            msg = bounded_message(data, JointState)
            positions, velocities = joint_state_from_msg(msg, self.limits.names)
        except NonFinite as error:
            with self.lock:
                self.latch_fault(now, f"implausible joint state: {error}")
            return
        except ValueError as error:  # another driver's joints (a gripper's own state), or malformed: not ours
            with self.lock:
                self.note(f"joint state dropped: {error}")
            return
        with self.lock:
            commanded = self.commanded.at(now).positions if self.commanded.known.any() else None
            verdict = self.monitor.check(positions, velocities, seconds(msg.header.stamp), clock, commanded)
            if verdict.believed:
                self.positions, self.velocities, self.joint_stamp = positions, velocities, now
            elif verdict.fault:
                self.latch_fault(now, f"implausible {verdict.reason}")
            else:
                self.note(verdict.reason)

    def on_trajectory(self, data: bytes) -> None:
        """Check a command outside the lock (bounded work), then forward it unless a latch or reset came meanwhile."""
        now = self.now()
        with self.lock:
            if not self.state.can_move:
                self.note(f"command ignored while {self.state.state.value}")
                return
            reason = self.why_no_joint_state(now)
            if reason:
                self.reject(now, reason)
                return
            epoch, override = self.epoch, self.speed_override
            # a joint read a hair past its limit (a gripper squeezed open) is held at the limit by its controller
            positions = np.clip(self.positions, self.limits.lower, self.limits.upper)
            start = self.commanded.at(now, fallback=positions)  # where the controller is: the plan starts there
        try:
            names, targets, times = trajectory_from_msg(bounded_message(data, JointTrajectory))
        except ValueError as error:
            with self.lock:
                self.reject(now, str(error))
            return
        points = [TrajectoryPoint(tuple(row), float(t)) for row, t in zip(targets, times)]
        cap = self.config.manual_tool_speed if self.get_parameter("manual_mode").value else None
        checks = dict(limits=self.limits, kinematics=self.kinematics, config=self.config, tool_speed_cap=cap)
        verdict = check_trajectory(Trajectory(names, points), start.positions, start.velocities,
                                   speed_override=override, **checks)
        if isinstance(verdict, Accepted):
            verdict = smooth_motion(verdict, start, **checks)
        with self.lock:
            if epoch != self.epoch or not self.state.can_move:
                self.note(f"command dropped: {self.state.state.value} while it was checked")
            elif isinstance(verdict, Accepted):
                self.send(verdict.trajectory, now, start=positions)  # from the state it was planned from, at now
                self.braking = False
                self.last_note = verdict.note
                if self.state.command_accepted(now):
                    self.publish_state()
            elif isinstance(verdict, Paused):
                self.hold(now, verdict.reason)
            else:
                self.reject(now, verdict.reason)

    def on_controller_problem(self, reason: str) -> None:
        """A controller refused or aborted the latest goal (the action interface): the arm is not where it was
        sent, so nothing more is commanded until an engineer's reset."""
        with self.lock:
            self.latch_fault(self.now(), f"controller: {reason}")

    def on_estop(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        """Latch first, then stop: whatever goes wrong planning the stop, the latch is in force and answered."""
        with self.lock:
            now = self.now()
            self.epoch += 1
            self.state.estop(now)
            try:
                self.stop(now)
            except Exception as error:  # the latch stands; nothing new is commanded; say why loudly
                self.get_logger().error(f"E-STOP: the controlled stop could not be planned ({error}); "
                                        "the controller holds the last commanded point")
            self.publish_state()
        self.get_logger().warning("E-STOP: controlled stop, holding until /robostral/reset")
        response.success, response.message = True, "e-stop latched: controlled stop, holding until reset"
        return response

    def on_reset(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        """An engineer's reset: clear a latch or hold and re-base the checks on the arm as it is now."""
        with self.lock:
            now = self.now()
            before = self.state.state
            if self.served_description is not None:  # no reset until the cell's URDF matches the description
                response.success, response.message = False, f"{before.value}: {self.served_description}"
                return response
            changed = self.state.reset(now)
            if changed:
                self.epoch += 1
                self.monitor.forget()
                if not self.commanded.in_motion(now):
                    self.commanded.forget()  # the controller holds where the arm is; the next command starts there
            self.publish_state()
        response.success = changed or before.value == "idle"
        response.message = f"{before.value} -> {self.state.state.value}" if changed else f"{before.value}: no-op"
        return response

    def on_watchdog(self) -> None:
        with self.lock:
            now = self.now()
            if self.state.tick(now):
                self.get_logger().warning(self.state.status.reason)
                self.stop(now)
                self.publish_state()
            elif now - self.last_report > REPORT_PERIOD:
                self.publish_state()

    def on_set_parameters(self, parameters) -> SetParametersResult:
        for parameter in parameters:
            if parameter.name == "speed_override":
                try:
                    value = self.checked_override(parameter.value)
                except ValueError as error:
                    return SetParametersResult(successful=False, reason=str(error))
                with self.lock:
                    self.speed_override = value
            elif parameter.name in ("robot", "safety_config", "watchdog_timeout", "controller_interface",
                                    "arm_action", "gripper_action", "gripper_max_effort"):
                return SetParametersResult(successful=False, reason=f"{parameter.name} is fixed at start")
        return SetParametersResult(successful=True)

    # -- outputs (called with the lock held) ------------------------------------------------------
    def send(self, trajectory: Trajectory, at: float, start: np.ndarray) -> None:
        """Split a checked trajectory (robot joint order, its points with velocities and accelerations) between
        the arm and gripper controllers, stamped to start at ``at`` (the supervisor's clock: when it was
        planned, a moment ago), and remember it as what they execute (``start``: where joints never commanded
        before begin)."""
        names = list(trajectory.joint_names)
        positions, velocities, accelerations = (np.array([getattr(p, field) for p in trajectory.points])
                                                for field in ("positions", "velocities", "accelerations"))
        times = [p.time_from_start for p in trajectory.points]
        stamp = (self.get_clock().now() - Duration(nanoseconds=int((self.now() - at) * 1e9))).to_msg()
        problems = []
        for send, group in ((self.output.arm, self.limits.arm_names),
                            (self.output.gripper, (self.limits.gripper_name,))):
            columns = [names.index(name) for name in group if name in names]
            if columns:
                problems.append(send([names[c] for c in columns], positions[:, columns], times,
                                     velocities[:, columns], accelerations[:, columns], stamp))
        self.commanded.follow(names, positions, times, at, start=start, velocities=velocities,
                              accelerations=accelerations)
        for problem in filter(None, problems):  # a controller not there: latched (once: its stop meets the same)
            self.latch_fault(self.now(), f"controller: {problem}")

    def stop(self, now: float) -> None:
        """A controlled stop from what the controller executes now (the supervisor's own last command), never
        from a received state; nothing once that motion has ended: the controller holds its last point."""
        if self.braking or not self.commanded.in_motion(now):
            return
        state = self.commanded.at(now)
        joints = [name for name, known in zip(self.limits.names, self.commanded.known) if known]
        stop = controlled_stop(state.positions, state.velocities, self.limits, self.config, joints)
        self.send(stop, now, start=state.positions)
        self.braking = True

    def hold(self, now: float, reason: str) -> None:
        self.stop(now)
        self.note(reason)

    def reject(self, now: float, reason: str) -> None:
        """A command failed its checks: brake what was commanded (nothing new, no creep) and hold."""
        self.get_logger().warning(f"command rejected: {reason}", throttle_duration_sec=1.0)
        self.stop(now)
        self.note(f"rejected: {reason}")
        if self.state.command_rejected(now, reason):
            self.publish_state()

    def latch_fault(self, now: float, reason: str) -> None:
        """Latch a fault (the first reason stays) and brake what was commanded."""
        self.epoch += 1
        if self.state.fault(now, reason):
            self.get_logger().error(f"FAULT: {reason}; holding until /robostral/reset")
            self.stop(now)
            self.publish_state()
        else:
            self.note(reason)

    def note(self, text: str) -> None:
        """Say ``text`` on /diagnostics: at once when it is news, at most every NOTE_PERIOD under a flood."""
        if text != self.last_note:
            self.last_note = text
            if self.now() - self.last_report >= NOTE_PERIOD:
                self.publish_state()

    def publish_state(self) -> None:
        status = self.state.status
        text = f"{status.state.value}: {status.reason}"
        self.state_topic.publish(String(data=text))
        level = {"idle": "ok", "active": "ok", "holding": "warn"}.get(status.state.value, "error")
        values = {"state": status.state.value, "reason": status.reason, "speed_override": self.speed_override,
                  "manual_mode": self.get_parameter("manual_mode").value, "last": self.last_note}
        stamp = self.get_clock().now().to_msg()
        self.diagnostics.publish(diagnostic_array(stamp, "safety_supervisor", level, text, values))
        self.last_report = self.now()

    # -- helpers ----------------------------------------------------------------------------------
    def why_no_joint_state(self, now: float) -> str:
        if self.positions is None:
            return "no believable joint state received yet"
        if now - self.joint_stamp > self.config.state_stale_after:
            return f"joint state is {now - self.joint_stamp:.2f} s old"
        return ""

    @staticmethod
    def checked_override(value) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
            raise ValueError(f"speed_override must be a number in [0, 1], got {value!r}")
        return float(value)

    @staticmethod
    def now() -> float:
        """Monotonic seconds: the supervisor's own clock, for its watchdog and its commands."""
        return time.monotonic()

    def clock(self) -> float:
        """ROS time in seconds, the time base of received stamps."""
        return self.get_clock().now().nanoseconds * 1e-9


def main(argv: list[str] | None = None) -> None:
    def make() -> tuple[Node, Node]:
        supervisor = SafetySupervisor()
        return supervisor, supervisor.urgent

    run_node(make, argv)


if __name__ == "__main__":
    main()
