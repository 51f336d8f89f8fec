"""sim_driver: the simulated arm behind the same ROS 2 interface as a ros2_control arm.

Publishes ``/joint_states`` and ``/camera/image_raw`` every control step (the joint
states as soon as the physics has moved, the image once it is rendered), follows
``JointTrajectory`` commands on the arm and gripper controller topics (interpolated
by ``time_from_start``, as joint_trajectory_controller does), and reports the task's
success on ``/diagnostics`` (with the scene's objects and an instruction it can
satisfy). The instruction on ``/robostral/instruction`` sets what success means (the
goal named by its colours). What it receives is checked, never trusted: a trajectory
the follower cannot follow (NaN, infinities, bad times, unknown joints, more than
``MAX_POINTS`` points or ``MAX_BYTES``, positions past the URDF's limits) or an instruction
``sim.language.check_instruction`` refuses is dropped with the reason on /diagnostics,
and the arm goes on with what it was doing. Parameters: ``task`` (a change applies at the next
reset), ``robot``, ``seed``, ``image_size``, ``randomization_level``, ``video`` (an
.mp4 path: every step is filmed, closed at shutdown); ``/sim_driver/reset`` starts
a new scene (next seed).
"""

from __future__ import annotations

from diagnostic_msgs.msg import DiagnosticArray
from rclpy.node import Node
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import String
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

from robostral.ros import contract
from robostral.ros.follower import TrajectoryFollower
from robostral.ros.instruct import received_instruction
from robostral.ros.messages import (
    bounded_message,
    diagnostic_array,
    image_msg,
    joint_state_msg,
    trajectory_from_msg,
    trajectory_rates_from_msg,
)
from robostral.ros.spin import run_node
from robostral.video import VideoStream, label
from robots import DEFAULT_ROBOT
from sim.env import EnvConfig, RobotTaskEnv

DIAGNOSTICS_EVERY = 10  # control steps between routine diagnostics (0.5 s at 20 Hz)


class SimDriver(Node):
    def __init__(self) -> None:
        super().__init__("sim_driver")
        self.declare_parameter("task", "pick_place")
        self.declare_parameter("robot", DEFAULT_ROBOT)
        self.declare_parameter("seed", 0)
        self.declare_parameter("image_size", EnvConfig.image_size)
        self.declare_parameter("randomization_level", 1.0)
        self.declare_parameter("wrist_camera", EnvConfig.wrist_camera)  # also render and publish the wrist camera
        self.declare_parameter("video", "")
        self.env = self.make_env()
        self.seed = int(self.get_parameter("seed").value)
        video = self.get_parameter("video").value
        self.video = VideoStream(video, fps=self.env.config.control_hz) if video else None
        robot = self.env.robot
        self.joint_names = robot.joint_names
        self.arm_joints, self.gripper_joint = self.joint_names[:-1], self.joint_names[-1:]
        self.follower = TrajectoryFollower(self.joint_names, robot.home, robot.lower, robot.upper)
        self.period = 1.0 / self.env.config.control_hz

        self.joint_states = self.create_publisher(JointState, contract.JOINT_STATES, contract.JOINT_STATES_QOS)
        self.images = self.create_publisher(Image, contract.CAMERA_IMAGE, contract.IMAGE_QOS)
        # Only a cell with a wrist camera offers the topic: no publisher that never publishes.
        self.wrist_images = (self.create_publisher(Image, contract.WRIST_CAMERA_IMAGE, contract.IMAGE_QOS)
                             if self.env.config.wrist_camera else None)
        self.diagnostics = self.create_publisher(DiagnosticArray, contract.DIAGNOSTICS, contract.DIAGNOSTICS_QOS)
        for topic in (contract.ARM_TRAJECTORY, contract.GRIPPER_TRAJECTORY):
            self.create_subscription(JointTrajectory, topic, self.on_trajectory, contract.CONTROLLER_QOS, raw=True)
        self.create_subscription(String, contract.INSTRUCTION, self.on_instruction, contract.LATCHED_QOS, raw=True)
        self.create_service(Trigger, contract.SIM_RESET, self.on_reset)
        self.problems: dict[str, str] = {}  # input -> its last bad message, reported until the next good one
        self.instruction = ""
        self.reset_scene()
        self.create_timer(self.period, self.step)

    def make_env(self) -> RobotTaskEnv:
        parameter = lambda name: self.get_parameter(name).value  # noqa: E731
        return RobotTaskEnv(
            parameter("task"),
            parameter("robot"),
            render_mode="rgb_array" if parameter("video") else None,
            image_size=parameter("image_size"),
            wrist_camera=parameter("wrist_camera"),
            randomization={"level": parameter("randomization_level")},
        )

    def reset_scene(self) -> None:
        if self.get_parameter("task").value != self.env.task.name:
            self.env.close()
            self.env = self.make_env()
        observation, info = self.env.reset(seed=self.seed)
        self.follower.hold(self.env.robot.home)
        self.problems.pop("trajectory", None)  # what was refused is no part of the new scene (an instruction is)
        self.steps, self.success, self.goal_problem = 0, bool(info["is_success"]), ""
        if self.instruction:
            self.set_goal(self.instruction)
        self.publish_joint_state()
        self.publish_image(observation)

    # -- callbacks ------------------------------------------------------------------------------
    def step(self) -> None:
        target = self.follower.target(self.now() + self.period)  # where the controller must be by the next tick
        _, _, _, info = self.env.advance(target)  # physics only: the joint states go out before the render
        self.steps += 1
        succeeded = bool(info["is_success"]) and not self.success
        self.success = bool(info["is_success"])
        self.publish_joint_state()
        self.publish_image(self.env.observe())
        if self.video is not None:
            self.video.add(label(self.env.render(), self.instruction or "(no instruction)"))
        if succeeded or self.steps % DIAGNOSTICS_EVERY == 0:
            self.publish_diagnostics()

    def on_trajectory(self, raw: bytes) -> None:
        """A serialized JointTrajectory: an oversized one is refused before it is deserialized."""
        try:
            msg = bounded_message(raw, JointTrajectory)
            names, positions, times = trajectory_from_msg(msg)
            velocities, accelerations = trajectory_rates_from_msg(msg)
            self.follower.follow(names, positions, times, self.now(), velocities, accelerations)
            self.problems.pop("trajectory", None)
        except ValueError as error:
            self.refuse("trajectory", error)

    def on_instruction(self, raw: bytes) -> None:
        """A serialized std_msgs/String; '' clears the instruction (the scene's goal stays as it was)."""
        try:
            self.instruction = received_instruction(raw)
            self.problems.pop("instruction", None)
        except ValueError as error:
            self.instruction = ""  # refused, and no longer the one before: success stays the scene's own
            self.refuse("instruction", error)
            return
        if self.instruction:
            self.set_goal(self.instruction)
        self.publish_diagnostics()

    def on_reset(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        self.seed += 1
        self.reset_scene()
        response.success, response.message = True, f"new scene, seed {self.seed}"
        return response

    # -- helpers --------------------------------------------------------------------------------
    def set_goal(self, instruction: str) -> None:
        """Judge success by what the instruction asks; one this scene cannot satisfy is reported."""
        try:
            self.env.task.goal = self.env.goal_for(instruction)
            self.success, self.goal_problem = self.env.task.is_success(), ""
        except ValueError as error:
            self.goal_problem = str(error)
            self.get_logger().warning(f"instruction {instruction!r}: {error}")

    def refuse(self, what: str, error: ValueError) -> None:
        """Drop a bad message: the reason goes to the log and /diagnostics until the next good one."""
        self.problems[what] = f"{what} refused: {error}"
        self.get_logger().warning(self.problems[what], throttle_duration_sec=1.0)
        self.publish_diagnostics()

    def destroy_node(self) -> None:
        if self.video is not None and self.video.frames:
            self.get_logger().info(f"video: {self.video.close()} ({self.video.frames} frames)")
        self.env.close()
        super().destroy_node()

    def now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def publish_joint_state(self) -> None:
        positions, velocities = self.env.robot.joint_state()
        stamp = self.get_clock().now().to_msg()
        self.joint_states.publish(joint_state_msg(self.joint_names, positions, velocities, stamp))

    def publish_image(self, observation: dict) -> None:
        """Publish the camera frames, stamped when rendered (the scene stands still until the next step).

        The wrist frame goes first: the front one triggers the policy's step, which then finds both.
        """
        stamp = self.get_clock().now().to_msg()
        if "wrist_image" in observation:
            self.wrist_images.publish(image_msg(observation["wrist_image"], stamp))
        if "image" in observation:
            self.images.publish(image_msg(observation["image"], stamp))

    def publish_diagnostics(self) -> None:
        problem = "; ".join(self.problems.values()) or self.goal_problem
        level = "warn" if problem else "ok"
        message = problem or ("task succeeded" if self.success else "running")
        values = {"task": self.env.task.name, "robot": self.env.robot.name, "seed": self.seed,
                  "instruction": self.instruction, "success": self.success, "steps": self.steps,
                  "objects": ", ".join(self.env.task.objects), "scene_instruction": self.env.instruction}
        stamp = self.get_clock().now().to_msg()
        self.diagnostics.publish(diagnostic_array(stamp, "sim_driver", level, message, values))


def main(argv: list[str] | None = None) -> None:
    run_node(SimDriver, argv)


if __name__ == "__main__":
    main()
