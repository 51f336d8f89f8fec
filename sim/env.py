"""``RobotTaskEnv``: one robot and one task on one simulation, behind the Gymnasium API.

Observation (``Dict``): ``image`` (H x W x 3 uint8, front camera), optional
``wrist_image``, ``proprio`` (float32: arm joint positions [rad], arm joint
velocities [rad/s], gripper joint position [joint units]) and ``instruction``
(text). A camera is rendered ``image_size`` square, or at its ``camera_source``'s
frame size, then cropped, turned and resized to ``image_size`` as the cell's
camera parameters do (``sim.camera_input``). Action: absolute joint-position
targets, arm joints then the gripper's driving joint, in joint units. Targets
outside the joint limits are clipped (reported in ``info["action_clipped"]``)
and the commanded target moves no faster than each joint's velocity limit.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from robots import DEFAULT_ROBOT, load_robot
from sim.camera import Camera, LightConfig, ToolCamera
from sim.camera_input import SOURCE_FIELDS, CameraSource
from sim.config import from_dict
from sim.language import CHARSET, MAX_LENGTH, SPLITS, colours_in
from sim.proprio import proprio_state
from sim.randomization import RandomizationConfig
from sim.robot import Robot
from sim.simulation import Simulation
from sim.tasks import Task, task_class
from sim.tasks.task import Goal

TABLE_COLOR = np.array([0.62, 0.55, 0.47])


@dataclass(frozen=True)
class EnvConfig:
    """Everything that shapes an env besides its task and robot."""

    image_size: int = 96  # pixels, square front image; 0 disables the camera
    wrist_camera: bool = False
    # The frame each camera is rendered at and the crop, turn and mirror that make the image_size input of it
    # (sim.camera_input.CameraSource), as on the cell the policy will run in; None: rendered image_size square.
    camera_source: CameraSource | None = None
    wrist_camera_source: CameraSource | None = None
    control_hz: int = 20
    physics_hz: int = 240
    instructions: str = "train"  # which phrasing split: train or heldout
    render_size: int = 256  # pixels, frames from render() for videos
    light: LightConfig = field(default_factory=LightConfig)
    randomization: RandomizationConfig = field(default_factory=RandomizationConfig)

    def __post_init__(self) -> None:
        if self.image_size < 0:
            raise ValueError(f"image_size must be >= 0 (0 disables the camera), got {self.image_size}")
        if self.control_hz <= 0 or self.physics_hz <= 0 or self.physics_hz % self.control_hz:
            raise ValueError(
                f"physics_hz ({self.physics_hz}) must be a positive multiple of control_hz ({self.control_hz})"
            )
        if self.instructions not in SPLITS:
            raise ValueError(f"instructions must be one of {SPLITS}, got {self.instructions!r}")
        if self.wrist_camera_source is not None and not self.wrist_camera:
            raise ValueError("wrist_camera_source is given, but wrist_camera is off")

    def camera_sources(self) -> dict[str, CameraSource]:
        """Each camera's source by observation key (``image``, ``wrist_image``), for the cameras this env has."""
        keys = [key for key in SOURCE_FIELDS if self.image_size and (key == "image" or self.wrist_camera)]
        return {key: getattr(self, SOURCE_FIELDS[key]) or CameraSource.direct(self.image_size) for key in keys}


class RobotTaskEnv(gym.Env):
    """A language-conditioned manipulation task on a simulated arm."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 20}

    def __init__(
        self,
        task: str | type[Task],
        robot: str = DEFAULT_ROBOT,  # a shipped arm's name or a description file's path (``robots``)
        render_mode: str | None = None,
        randomization: RandomizationConfig | dict | None = None,
        **config: Any,
    ) -> None:
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        if isinstance(randomization, dict):
            randomization = from_dict(RandomizationConfig, randomization)
        if randomization is not None:
            config["randomization"] = randomization
        self.config = from_dict(EnvConfig, config)
        task_cls, description = task_class(task), load_robot(robot)  # check both before building anything
        self.render_mode = render_mode
        self.metadata = {**self.metadata, "render_fps": self.config.control_hz}
        self.sim = Simulation(self.config.physics_hz)
        self.substeps = self.config.physics_hz // self.config.control_hz
        with self.sim.no_rendering():
            self.sim.create_box("table", [0.45, 0.6, 0.02], [0.45, 0.0, -0.02], [*TABLE_COLOR, 1.0])
            self.robot = Robot(self.sim, description)
        self.task = task_cls(self.sim, self.robot)
        self.sources = self.config.camera_sources()
        front, wrist, light = self.sources.get("image"), self.sources.get("wrist_image"), self.config.light
        self.camera = Camera(self.sim, description.front_camera, light, front.width, front.height) if front else None
        self.wrist_camera = ToolCamera(self.sim, self.robot, light, wrist.width, wrist.height) if wrist else None
        self._video_camera: Camera | None = None
        low, high = self.robot.lower.astype(np.float32), self.robot.upper.astype(np.float32)
        self.action_space = spaces.Box(low, high, dtype=np.float32)
        self.observation_space = self._observation_space()
        self._target = self.robot.home.copy()
        self._pending: deque[np.ndarray] = deque()
        self._episode: dict[str, Any] = {}
        self.instruction = ""

    def _observation_space(self) -> spaces.Dict:
        n = len(self.robot.description.arm_joints)
        velocity = 2.0 * self.robot.max_velocity[:-1]  # rad/s; contacts can briefly exceed the limit
        low = np.concatenate([self.robot.lower[:-1], -velocity, self.robot.lower[-1:]]).astype(np.float32)
        high = np.concatenate([self.robot.upper[:-1], velocity, self.robot.upper[-1:]]).astype(np.float32)
        fields: dict[str, spaces.Space] = {}
        size = self.config.image_size
        if size:
            fields["image"] = spaces.Box(0, 255, (size, size, 3), dtype=np.uint8)
            if self.config.wrist_camera:
                fields["wrist_image"] = spaces.Box(0, 255, (size, size, 3), dtype=np.uint8)
        fields["proprio"] = spaces.Box(low - 1e-3, high + 1e-3, (2 * n + 1,), dtype=np.float32)
        fields["instruction"] = spaces.Text(MAX_LENGTH, charset=CHARSET)
        return spaces.Dict(fields)

    # -- Gymnasium API ---------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        rng = self.np_random
        randomization = self.config.randomization
        values = randomization.sample(rng)
        with self.sim.no_rendering():
            self.robot.reset()
            self.robot.set_joint_damping(values["joint_damping"])
            table = np.clip(TABLE_COLOR + values["table_color_shift"], 0, 1)
            self.sim.set_color("table", [*table, 1.0])
            self.instruction = self.task.reset(rng, randomization, self.config.instructions)
        for camera in (self.camera, self.wrist_camera):
            if camera is not None:
                camera.set_episode(values)
        self._target = self.robot.home.copy()
        self._pending = deque([self._target.copy()] * values["action_latency"])
        self._episode = {**values, **self.task.values}
        self.sim.step(self.substeps)  # let the new objects settle on the table
        return self.observe(), self._info([], self.task.is_success())

    def step(self, action):
        reward, terminated, truncated, info = self.advance(action)
        return self.observe(), reward, terminated, truncated, info

    def advance(self, action) -> tuple[float, bool, bool, dict[str, Any]]:
        """``step`` without the observation: the physics moves, nothing is rendered yet.

        For drivers that publish each sensor as soon as it is ready (joint states before
        the camera frame), as a real arm does; ``observe`` then renders the frame.
        """
        action = self._validate(action)
        lower, upper = self.robot.lower, self.robot.upper
        clipped = [self.robot.joint_names[i] for i in np.flatnonzero((action < lower) | (action > upper))]
        target = np.clip(action, lower, upper)
        noise = self._episode["action_noise"]
        if noise > 0:
            target = np.clip(target + self.np_random.normal(0.0, noise, size=target.shape), lower, upper)
        self._pending.append(target)
        executed = self._pending.popleft()
        max_move = self.robot.max_velocity / self.config.control_hz
        self._target = self._target + np.clip(executed - self._target, -max_move, max_move)
        self.robot.command(self._target)
        self.sim.step(self.substeps)
        success = self.task.is_success()
        return float(success), success, False, self._info(clipped, success)

    def set_goal(self, goal: Goal) -> str:
        """Give the task a new goal mid-episode, without a reset (instruction chains); returns its instruction.

        The wording is drawn from this env's phrasing split; observations carry it from the next step.
        """
        missing = [name for name in (goal.a, goal.b) if name and name not in self.task.objects]
        if missing:
            raise ValueError(f"goal names {', '.join(missing)}, not in the scene ({', '.join(self.task.objects)})")
        self.task.goal = goal
        self.instruction = self.task.instruction(self.np_random, self.config.instructions)
        return self.instruction

    def goal_for(self, instruction: str) -> Goal:
        """The goal an instruction in plain words asks for in this scene (ValueError if it names none).

        The roles stay the task's (the thing moved, where it goes); the colours named pick the objects,
        the first colour for the moved one. Used where the instruction comes from outside, e.g. ROS 2.
        """
        colours = colours_in(instruction)
        roles = [name for name in (self.task.goal.a, self.task.goal.b) if name]
        if len(colours) < len(roles):
            raise ValueError(f"{instruction!r} names {len(colours)} colours; a {self.task.name} needs {len(roles)}")
        names = [f"{role.rsplit('_', 1)[0]}_{colour}" for role, colour in zip(roles, colours)]
        missing = [" ".join(reversed(name.split("_", 1))) for name in names if name not in self.task.objects]
        if missing:
            present = ", ".join(" ".join(reversed(name.split("_", 1))) for name in self.task.objects)
            raise ValueError(f"there is no {' or '.join(missing)} in this scene (it has: {present})")
        return Goal(*names)

    def observe(self) -> dict[str, Any]:
        """The observation of the scene as it is now (renders the cameras)."""
        q, qd = self.robot.joint_state()
        proprio = proprio_state(q, qd)
        space = self.observation_space["proprio"]
        observation: dict[str, Any] = {}
        for key, camera in (("image", self.camera), ("wrist_image", self.wrist_camera)):
            if camera is not None:  # the frame as the camera delivers it, then what the policy sees of it
                observation[key] = self.sources[key].apply(camera.render(), self.config.image_size)
        observation["proprio"] = np.clip(proprio, space.low, space.high)
        observation["instruction"] = self.instruction
        return observation

    def render(self) -> np.ndarray | None:
        if self.render_mode != "rgb_array":
            return None
        size = self.config.render_size
        if self._video_camera is None:  # kept, so that a fixed camera draws the static scene once
            self._video_camera = self.camera or Camera(self.sim, self.robot.description.front_camera,
                                                       self.config.light, size, size)
        return self._video_camera.render(size, size)

    def close(self) -> None:
        self.sim.close()

    # -- helpers -----------------------------------------------------------------------
    def _validate(self, action) -> np.ndarray:
        array = np.asarray(action, dtype=np.float64)
        if array.shape != self.action_space.shape:
            names = ", ".join(self.robot.joint_names)
            raise ValueError(f"action must have shape {self.action_space.shape} ({names}), got {array.shape}")
        bad = ~np.isfinite(array)
        if bad.any():
            names = [self.robot.joint_names[i] for i in np.flatnonzero(bad)]
            raise ValueError(f"action has NaN or infinite targets for {', '.join(names)}")
        return array

    def _info(self, clipped: list[str], success: bool) -> dict[str, Any]:
        return {
            "is_success": success,
            "instruction": self.instruction,
            "task": self.task.name,
            "robot": self.robot.name,
            "action_clipped": bool(clipped),
            "clipped_joints": clipped,
            "randomization": dict(self._episode),
        }
