"""safety_supervisor: the only node that commands the controllers.

Every trajectory from the policy node (or the pendant) is checked point by point
(``robostral.safety``: joint limits with a margin, velocity and acceleration limits,
the tool point's workspace box, NaN and unknown joints), re-timed by the speed
override, and only then split between the arm and gripper controllers. A rejected
command, the watchdog (no command while active) or a 0% override bring the arm to a
controlled stop and hold it. ``/robostral/estop`` latches a controlled stop until
``/robostral/reset``. The state (idle, active, holding, estopped, fault, and why) is
on ``/diagnostics`` and latched on ``/robostral/supervisor/state``.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import SetParametersResult
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import String
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

from robostral.ros import contract
from robostral.ros.messages import diagnostic_array, joint_state_from_msg, trajectory_from_msg, trajectory_msg
from robostral.ros.spin import run_node
from robostral.safety import (
    Accepted,
    Paused,
    SafetyConfig,
    StateMachine,
    Trajectory,
    TrajectoryPoint,
    check_trajectory,
    controlled_stop,
    tool_kinematics,
)
from sim.config import from_yaml
from sim.robots import DEFAULT_ROBOT

WATCHDOG_PERIOD = 0.05  # s between watchdog checks
REPORT_PERIOD = 1.0  # s between routine diagnostics
JOINT_STATE_TIMEOUT = 0.5  # s: older joint states are no basis for a check


class SafetySupervisor(Node):
    def __init__(self) -> None:
        super().__init__("safety_supervisor")
        self.declare_parameter("robot", DEFAULT_ROBOT)
        self.declare_parameter("config", "")  # YAML of robostral.safety.SafetyConfig; '' = its defaults
        self.declare_parameter("watchdog_timeout", SafetyConfig.watchdog_timeout)
        self.declare_parameter("speed_override", 1.0)  # 0..1
        self.declare_parameter("manual_mode", False)  # caps the tool speed (pendant jogging and teaching)
        self.config = self.load_config()
        self.limits = self.config.joint_limits()
        self.kinematics = tool_kinematics(self.config.robot)
        self.speed_override = self.checked_override(self.get_parameter("speed_override").value)
        self.add_on_set_parameters_callback(self.on_set_parameters)
        self.state = StateMachine(self.config.watchdog_timeout, self.now())
        self.positions: np.ndarray | None = None
        self.velocities = np.zeros(len(self.limits.names))
        self.joint_stamp = 0.0
        self.last_note = ""  # the last rejection or re-timing, for diagnostics
        self.last_report = 0.0

        self.arm = self.create_publisher(JointTrajectory, contract.ARM_TRAJECTORY, contract.CONTROLLER_QOS)
        self.gripper = self.create_publisher(JointTrajectory, contract.GRIPPER_TRAJECTORY, contract.CONTROLLER_QOS)
        self.state_topic = self.create_publisher(String, contract.SUPERVISOR_STATE, contract.LATCHED_QOS)
        self.diagnostics = self.create_publisher(DiagnosticArray, contract.DIAGNOSTICS, contract.DIAGNOSTICS_QOS)
        self.create_subscription(JointState, contract.JOINT_STATES, self.on_joint_state, contract.JOINT_STATES_QOS)
        for topic in (contract.POLICY_TRAJECTORY, contract.PENDANT_TRAJECTORY):
            self.create_subscription(JointTrajectory, topic, self.on_trajectory, contract.POLICY_TRAJECTORY_QOS)
        self.create_service(Trigger, contract.ESTOP, self.on_estop)
        self.create_service(Trigger, contract.RESET, self.on_reset)
        self.create_timer(WATCHDOG_PERIOD, self.on_watchdog)
        self.publish_state()

    def load_config(self) -> SafetyConfig:
        path = self.get_parameter("config").value
        base = from_yaml(SafetyConfig, path) if path else SafetyConfig()
        return replace(base, robot=self.get_parameter("robot").value,
                       watchdog_timeout=float(self.get_parameter("watchdog_timeout").value))

    # -- inputs -----------------------------------------------------------------------------------
    def on_joint_state(self, msg: JointState) -> None:
        try:
            self.positions, self.velocities = joint_state_from_msg(msg, self.limits.names)
            self.joint_stamp = self.now()
        except ValueError as error:
            self.note(f"joint state dropped: {error}")

    def on_trajectory(self, msg: JointTrajectory) -> None:
        now = self.now()
        if not self.state.can_move:
            self.note(f"command ignored while {self.state.state.value}")
            return
        reason = self.why_no_joint_state(now)
        if reason:
            self.reject(now, reason)
            return
        try:
            names, positions, times = trajectory_from_msg(msg)
        except ValueError as error:
            self.reject(now, str(error))
            return
        points = [TrajectoryPoint(tuple(row), float(t)) for row, t in zip(positions, times)]
        manual = bool(self.get_parameter("manual_mode").value)
        verdict = check_trajectory(
            Trajectory(names, points), self.positions, self.velocities, limits=self.limits,
            kinematics=self.kinematics, config=self.config, speed_override=self.speed_override,
            tool_speed_cap=self.config.manual_tool_speed if manual else None,
        )
        if isinstance(verdict, Accepted):
            self.forward(verdict.trajectory)
            self.last_note = verdict.note
            if self.state.command_accepted(now):
                self.publish_state()
        elif isinstance(verdict, Paused):
            self.hold(verdict.reason)
        else:
            self.reject(now, verdict.reason)

    def on_estop(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        self.state.estop(self.now())
        self.stop()
        self.publish_state()
        self.get_logger().warning("E-STOP: controlled stop, holding until /robostral/reset")
        response.success, response.message = True, "e-stop latched: controlled stop, holding until reset"
        return response

    def on_reset(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        before = self.state.state
        changed = self.state.reset(self.now())
        self.publish_state()
        response.success = changed or before.value == "idle"
        response.message = f"{before.value} -> {self.state.state.value}" if changed else f"{before.value}: no-op"
        return response

    def on_watchdog(self) -> None:
        now = self.now()
        if self.state.tick(now):
            self.get_logger().warning(self.state.status.reason)
            self.stop()
            self.publish_state()
        elif now - self.last_report > REPORT_PERIOD:
            self.publish_state()

    def on_set_parameters(self, parameters) -> SetParametersResult:
        for parameter in parameters:
            if parameter.name == "speed_override":
                try:
                    self.speed_override = self.checked_override(parameter.value)
                except ValueError as error:
                    return SetParametersResult(successful=False, reason=str(error))
            elif parameter.name in ("robot", "config", "watchdog_timeout"):
                return SetParametersResult(successful=False, reason=f"{parameter.name} is fixed at start")
        return SetParametersResult(successful=True)

    # -- outputs ----------------------------------------------------------------------------------
    def forward(self, trajectory: Trajectory) -> None:
        """Split a checked trajectory (robot joint order) between the arm and gripper controllers."""
        names = list(trajectory.joint_names)
        positions = np.array([p.positions for p in trajectory.points])
        times = [p.time_from_start for p in trajectory.points]
        stamp = self.get_clock().now().to_msg()
        for publisher, group in ((self.arm, self.limits.arm_names), (self.gripper, (self.limits.gripper_name,))):
            columns = [names.index(name) for name in group if name in names]
            if columns:
                publisher.publish(trajectory_msg([names[c] for c in columns], positions[:, columns], times, stamp))

    def stop(self) -> None:
        """A controlled stop from the current joint state, then hold (nothing without a joint state to stop from)."""
        if self.positions is not None:
            self.forward(controlled_stop(self.positions, self.velocities, self.limits, self.config))

    def hold(self, reason: str) -> None:
        self.stop()
        self.note(reason)

    def reject(self, now: float, reason: str) -> None:
        self.get_logger().warning(f"command rejected: {reason}")
        self.stop()
        self.last_note = f"rejected: {reason}"
        if self.state.command_rejected(now, reason):
            self.publish_state()

    def note(self, text: str) -> None:
        if text != self.last_note:
            self.last_note = text
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
            return "no joint state received yet"
        if now - self.joint_stamp > JOINT_STATE_TIMEOUT:
            return f"joint state is {now - self.joint_stamp:.2f} s old"
        return ""

    @staticmethod
    def checked_override(value) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
            raise ValueError(f"speed_override must be a number in [0, 1], got {value!r}")
        return float(value)

    @staticmethod
    def now() -> float:
        return time.monotonic()


def main(argv: list[str] | None = None) -> None:
    run_node(SafetySupervisor, argv)


if __name__ == "__main__":
    main()
