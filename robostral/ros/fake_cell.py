"""fake_cell: a Universal Robots cell played by the simulator, to rehearse ``robostral up --hardware`` without an arm.

It keeps a real cell's names and habits, not the simulator's (robostral/ros/contract.py), so that a
bring-up configured against it is configured against the real thing:

- the arm takes trajectories on ur_robot_driver's ``ARM_CONTROLLER``, the gripper on a
  joint_trajectory_controller of its own (``GRIPPER_CONTROLLER``). Each follows a trajectory that names
  all of its joints and no other (joint_trajectory_controller's ``allow_partial_joints_goal: false``),
  interpolated by ``robostral.ros.follower`` as the sim driver's are (linear, cubic or quintic, as the
  points give velocities and accelerations); anything else is refused with the reason in its log and on
  /diagnostics, and the arm goes on with what it was doing.
- ``/joint_states`` as a joint_state_broadcaster publishes it: every joint in one message (the gripper's
  mimic joint too), in the driver's order (alphabetical, not the description's), with positions,
  velocities and efforts, stamped by its clock, ``joint_state_rate`` times a second (500: a UR e-Series;
  a CB3 runs at 125), from a loop on a thread of its own (rclpy's executor costs ~0.4 ms a timer tick).
  The physics steps at that rate too, catching up on the time a camera frame held it up.
- a colour camera as realsense2_camera publishes it: ``bgr8`` frames of ``camera_width`` x
  ``camera_height`` (640x480) on ``CAMERA`` at ``camera_rate`` (30 fps), frame id ``CAMERA_FRAME``,
  stamped when rendered. The view is the robot description's front camera; TinyRenderer draws it at
  ``render_scale`` of the frame's size, scaled up after (a whole 640x480 draw takes ~30 ms of one core,
  the camera's entire budget at 30 fps).

Joint names are the robot description's, as a driver launched with the cell's URDF gives them;
``tf_prefix`` prepends a prefix to each, as ur_robot_driver's launch argument does. Units: rad, m, s.

Faults to rehearse, as parameters that may change while it runs (``ros2 param set /fake_cell silent
true``, or its SetParameters service): ``silent`` (the joint states stop: a dead controller),
``freeze_camera`` (the last frame again and again, with its old stamp: a stuck camera) and
``camera_width`` / ``camera_height`` (the camera in another mode). ``robot``, ``task``, ``seed``,
``tf_prefix``, the rates and ``render_scale`` are fixed at start.
"""

from __future__ import annotations

import threading
import time
from functools import partial

import cv2
import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import SetParametersResult
from rclpy.node import Node
from rclpy.qos import QoSProfile
from sensor_msgs.msg import Image, JointState
from trajectory_msgs.msg import JointTrajectory

from robostral.ros import contract
from robostral.ros.follower import TrajectoryFollower
from robostral.ros.messages import (
    bounded_message,
    diagnostic_array,
    image_msg,
    joint_state_msg,
    trajectory_from_msg,
    trajectory_rates_from_msg,
)
from robostral.ros.spin import run_node
from sim.camera import Camera
from sim.env import RobotTaskEnv

ARM_CONTROLLER = "/scaled_joint_trajectory_controller/joint_trajectory"  # ur_robot_driver's default arm controller
GRIPPER_CONTROLLER = "/gripper_trajectory_controller/joint_trajectory"  # a joint_trajectory_controller on the jaw
JOINT_STATES = "/joint_states"  # joint_state_broadcaster
CAMERA = "/camera/camera/color/image_raw"  # realsense2_camera: namespace camera, node camera, colour stream
CAMERA_FRAME = "camera_color_optical_frame"
# ros2_control's and realsense2_camera's default: rclcpp's SystemDefaultsQoS, reliable, keep last 10.
SYSTEM_DEFAULT_QOS = QoSProfile(depth=10)
MAX_LAG = 0.1  # s of physics caught up at most in one tick: a longer stall is lost time, not a burst of motion
REPORT_PERIOD = 1.0  # s between routine diagnostics
FIXED = ("robot", "task", "seed", "tf_prefix", "joint_state_rate", "camera_rate", "render_scale")  # at start
MAX_SIDE = 4096  # px: a camera mode wider or taller than this is refused


class FakeCell(Node):
    def __init__(self) -> None:
        super().__init__("fake_cell")
        parameter = lambda name, default: self.declare_parameter(name, default).value  # noqa: E731
        robot, task, seed = parameter("robot", "ur5"), parameter("task", "reach"), parameter("seed", 0)
        prefix = parameter("tf_prefix", "")
        rate, self.camera_rate = parameter("joint_state_rate", 500), parameter("camera_rate", 30.0)
        self.render_scale = parameter("render_scale", 0.5)
        self.silent, self.frozen = parameter("silent", False), parameter("freeze_camera", False)
        self.size = (parameter("camera_width", 640), parameter("camera_height", 480))
        if not (rate > 0 and self.camera_rate > 0 and 0 < self.render_scale <= 1):
            raise SystemExit(f"fake_cell: joint_state_rate ({rate}) and camera_rate ({self.camera_rate}) must be "
                             f"> 0, render_scale ({self.render_scale}) in (0, 1]")
        if check_size(*self.size):
            raise SystemExit(f"fake_cell: {check_size(*self.size)}")

        # The physics steps at the joint state rate: one step a tick, as a controller's update loop.
        self.env = RobotTaskEnv(task, robot, image_size=0, control_hz=rate, physics_hz=rate,
                                randomization={"enabled": False})
        self.env.reset(seed=seed)
        arm = self.env.robot
        names = [prefix + name for name in arm.joint_names]
        self.follower = TrajectoryFollower(names, arm.home, arm.lower, arm.upper)
        self.controllers = {ARM_CONTROLLER: names[:-1], GRIPPER_CONTROLLER: names[-1:]}
        measured = [prefix + name for name in (*arm.description.arm_joints, *arm.gripper.joints)]
        self.order = np.argsort(measured)  # the driver's order: alphabetical
        self.measured_names = [measured[i] for i in self.order]
        self.period = 1.0 / rate
        self.physics_time = time.monotonic()
        self.lock = threading.Lock()  # the physics and the follower, shared by the control loop and the executor
        self.stopping = threading.Event()
        self.camera: Camera | None = None  # made for the current size at the next frame
        self.frame: Image | None = None  # the last frame published
        self.accepted, self.refused, self.last_refusal = 0, 0, ""
        self.last_report = 0.0

        self.joint_states = self.create_publisher(JointState, JOINT_STATES, SYSTEM_DEFAULT_QOS)
        self.images = self.create_publisher(Image, CAMERA, SYSTEM_DEFAULT_QOS)
        self.diagnostics = self.create_publisher(DiagnosticArray, contract.DIAGNOSTICS, contract.DIAGNOSTICS_QOS)
        for topic in self.controllers:
            self.create_subscription(JointTrajectory, topic, partial(self.on_trajectory, topic), SYSTEM_DEFAULT_QOS,
                                     raw=True)
        self.create_timer(1.0 / self.camera_rate, self.on_camera)
        self.create_timer(REPORT_PERIOD, self.report)
        self.add_on_set_parameters_callback(self.on_set_parameters)
        self.get_logger().info(
            f"a {arm.name} cell: {JOINT_STATES} at {rate} Hz; arm {ARM_CONTROLLER}, gripper {GRIPPER_CONTROLLER}; "
            f"{self.size[0]}x{self.size[1]} bgr8 at {self.camera_rate:g} fps on {CAMERA}")
        self.loop = threading.Thread(target=self.control_loop, name="fake_cell_control", daemon=True)
        self.loop.start()

    # -- the controllers ------------------------------------------------------------------------
    def control_loop(self) -> None:
        """``on_control`` every period until the node is destroyed; a late tick is not made up with a burst."""
        due = time.monotonic()
        while not self.stopping.is_set():
            due = max(due + self.period, time.monotonic())
            self.stopping.wait(due - time.monotonic())
            self.on_control()

    def on_control(self) -> None:
        """Step the physics up to now (targets from the trajectories followed), then broadcast the joint states."""
        now = time.monotonic()
        with self.lock:
            self.physics_time = max(self.physics_time, now - MAX_LAG)
            while self.physics_time + self.period <= now:
                self.physics_time += self.period
                self.env.advance(self.follower.target(self.physics_time + self.period))  # where it must be next
            positions, velocities, efforts = measured_state(self.env.robot)
        if not self.silent:
            msg = joint_state_msg(self.measured_names, positions[self.order], velocities[self.order],
                                  self.get_clock().now().to_msg())
            msg.effort = [float(v) for v in efforts[self.order]]
            self.joint_states.publish(msg)

    def on_trajectory(self, controller: str, raw: bytes) -> None:
        """A serialized JointTrajectory for one controller: followed from now, or refused whole with the reason."""
        try:
            msg = bounded_message(raw, JointTrajectory)
            names, positions, times = trajectory_from_msg(msg)
            velocities, accelerations = trajectory_rates_from_msg(msg)
            joints = self.controllers[controller]
            if sorted(names) != sorted(joints):
                raise ValueError(f"{controller} takes all of {', '.join(joints)} and no other joint; "
                                 f"got {', '.join(names)}")
            with self.lock:
                self.follower.follow(names, positions, times, time.monotonic(), velocities, accelerations)
            self.accepted += 1
        except ValueError as error:
            self.refused, self.last_refusal = self.refused + 1, f"trajectory refused: {error}"
            self.get_logger().warning(self.last_refusal, throttle_duration_sec=1.0)
            self.report(force=True)

    # -- the camera -----------------------------------------------------------------------------
    def on_camera(self) -> None:
        """A new frame, or the last one again (same pixels, same stamp) while the camera is frozen."""
        if not self.frozen or self.frame is None:
            self.frame = self.render()
        self.images.publish(self.frame)

    def render(self) -> Image:
        """A bgr8 frame of the front camera at the camera's size, stamped now."""
        width, height = self.size
        drawn = (max(1, round(width * self.render_scale)), max(1, round(height * self.render_scale)))
        with self.lock:  # the physics client is the control loop's too
            if self.camera is None or (self.camera.width, self.camera.height) != drawn:
                mount, light = self.env.robot.description.front_camera, self.env.config.light
                self.camera = Camera(self.env.sim, mount, light, *drawn)
            pixels = cv2.cvtColor(self.camera.render(), cv2.COLOR_RGB2BGR)  # on the small frame: cheaper
        if drawn != self.size:
            pixels = cv2.resize(pixels, self.size, interpolation=cv2.INTER_LINEAR)
        msg = image_msg(pixels, self.get_clock().now().to_msg(), CAMERA_FRAME)
        msg.encoding = "bgr8"
        return msg

    # -- faults and reports ---------------------------------------------------------------------
    def on_set_parameters(self, parameters) -> SetParametersResult:
        """Apply a fault or a camera mode at once; refuse what is fixed at start, or a size no camera has."""
        size = dict(zip(("camera_width", "camera_height"), self.size))
        for parameter in parameters:
            if parameter.name in FIXED:
                return SetParametersResult(successful=False, reason=f"{parameter.name} is fixed at start")
            if parameter.name in size:
                size[parameter.name] = parameter.value
        problem = check_size(*size.values())
        if problem:
            return SetParametersResult(successful=False, reason=problem)
        for parameter in parameters:
            if parameter.name == "silent":
                self.silent = parameter.value
            elif parameter.name == "freeze_camera":
                self.frozen = parameter.value
        self.size = tuple(size.values())
        self.report(force=True)
        return SetParametersResult(successful=True)

    def report(self, force: bool = False) -> None:
        """Its state on /diagnostics: every REPORT_PERIOD, and at once on a change or a refusal."""
        now = time.monotonic()
        if not force and now - self.last_report < REPORT_PERIOD:
            return
        self.last_report = now
        faults = [text for text, on in (("silent: no joint states", self.silent),
                                         ("camera frozen", self.frozen)) if on]
        values = {"robot": self.env.robot.name, "camera": f"{self.size[0]}x{self.size[1]} bgr8",
                  "trajectories_accepted": self.accepted, "trajectories_refused": self.refused,
                  "last_refusal": self.last_refusal}
        level = "warn" if faults else "ok"
        stamp = self.get_clock().now().to_msg()
        self.diagnostics.publish(diagnostic_array(stamp, "fake_cell", level, "; ".join(faults) or "running", values))

    def destroy_node(self) -> None:
        self.stopping.set()
        self.loop.join()
        self.env.close()
        super().destroy_node()


def check_size(width: object, height: object) -> str:
    """Why ``width`` x ``height`` is no camera mode ('' when it is one)."""
    if all(isinstance(v, int) and not isinstance(v, bool) and 0 < v <= MAX_SIDE for v in (width, height)):
        return ""
    return f"camera_width x camera_height must be whole pixels in 1..{MAX_SIDE}, got {width!r} x {height!r}"


def measured_state(robot) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Positions, velocities and motor efforts (N m, or N for a prismatic joint) of every joint a driver reports:
    the arm joints, then every gripper joint (its mimic joints too), as ``sim.robot.Robot`` orders them."""
    states = robot.sim.client.getJointStates(robot.body, robot.arm_indices + robot.gripper_indices)
    return tuple(np.array([state[k] for state in states]) for k in (0, 1, 3))


def main(argv: list[str] | None = None) -> None:
    run_node(FakeCell, argv)


if __name__ == "__main__":
    main()
