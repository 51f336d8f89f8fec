"""Cameras: a fixed front camera and an optional wrist camera, rendered with TinyRenderer.

Images are H x W x 3 uint8 RGB. Where each camera sits is the robot description's
(``robots.FrontCamera``, ``robots.WristCamera``): the front camera in front of the table,
facing the robot; domain randomization jitters its pose and the light.

The front camera never moves within an episode, so it draws the static bodies
(table, bins, markers) once, then each frame draws only what moves and lays it
over them by depth. TinyRenderer shades every pixel of a body the same way
whatever else is in the scene (no shadows), so the frame is the one a full draw
would give; the table alone is ~40% of a full draw's cost.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pybullet

from robots import FrontCamera, WristCamera
from sim.simulation import Simulation


@dataclass(frozen=True)
class LightConfig:
    """The scene's light as the cameras render it (randomization shifts it per episode)."""

    light_direction: tuple[float, float, float] = (0.6, 0.3, 1.0)
    light_ambient: float = 0.55


class Camera:
    """Renders one view of a ``Simulation``; pose and light set per episode."""

    moves = False  # whether the view changes between frames (then nothing can be drawn once)

    def __init__(self, sim: Simulation, mount: FrontCamera | WristCamera, light: LightConfig, width: int,
                 height: int) -> None:
        self.sim = sim
        self.mount = mount
        self.light = light
        self.width = width
        self.height = height
        self._projection = sim.client.computeProjectionMatrixFOV(mount.fov, width / height, mount.near, mount.far)
        self._background: tuple | None = None  # (appearance of the static bodies, rgba, depth)
        self.set_episode({})

    def set_episode(self, values: dict[str, float]) -> None:
        """Apply this episode's randomized pose and light (keys from ``RandomizationConfig.sample``)."""
        c = self.mount
        eye = np.array(c.eye) + [values.get(f"camera_d{axis}", 0.0) for axis in "xyz"]
        forward = np.array(c.target) - eye
        distance = np.linalg.norm(forward)
        pan, tilt = values.get("camera_pan", 0.0), values.get("camera_tilt", 0.0)
        target = np.array(c.target) + distance * np.array([0.0, np.tan(pan), np.tan(tilt)])
        self._view = self.sim.client.computeViewMatrix(eye.tolist(), target.tolist(), [0, 0, 1])
        self._set_light(values)

    def _set_light(self, values: dict[str, float]) -> None:
        light = self.light
        tilt_x, tilt_y = values.get("light_tilt_x", 0.0), values.get("light_tilt_y", 0.0)
        direction = np.array(light.light_direction) + [np.sin(tilt_x), np.sin(tilt_y), 0.0]
        self._light = {
            "lightDirection": direction.tolist(),
            "lightAmbientCoeff": float(np.clip(light.light_ambient + values.get("light_ambient_shift", 0.0),
                                               0.05, 1.0)),
            "lightDiffuseCoeff": 0.6,
            "lightSpecularCoeff": 0.05,
        }
        self._background = None

    def render(self, width: int | None = None, height: int | None = None) -> np.ndarray:
        """An RGB frame; a different size than the configured one is for videos only."""
        width, height = width or self.width, height or self.height
        if self.moves or (width, height) != (self.width, self.height):
            return self._draw(width, height)[0][:, :, :3]
        static = self.sim.static_bodies()
        appearance = self.sim.appearance(static)
        if self._background is None or self._background[0] != appearance:
            with self.sim.hidden(self.sim.moving_bodies()):
                self._background = (appearance, *self._draw(width, height))
        with self.sim.hidden(static):
            rgba, depth = self._draw(width, height)
        _, background, background_depth = self._background
        # Whole RGBA pixels as uint32: one np.where instead of strided per-channel copies.
        pixels = np.where(depth <= background_depth, rgba.view(np.uint32)[:, :, 0], background.view(np.uint32)[:, :, 0])
        return pixels.view(np.uint8).reshape(height, width, 4)[:, :, :3]

    def _draw(self, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
        """RGBA (H x W x 4 uint8) and depth buffer (H x W, smaller is nearer) of the visible bodies."""
        projection = self._projection
        if (width, height) != (self.width, self.height):
            c = self.mount
            projection = self.sim.client.computeProjectionMatrixFOV(c.fov, width / height, c.near, c.far)
        _, _, rgba, depth, _ = self.sim.client.getCameraImage(
            width,
            height,
            self._view,
            projection,
            renderer=pybullet.ER_TINY_RENDERER,
            shadow=0,
            flags=pybullet.ER_NO_SEGMENTATION_MASK,
            **self._light,
        )
        rgba = np.ascontiguousarray(rgba, dtype=np.uint8).reshape(height, width, 4)
        return rgba, np.asarray(depth, dtype=np.float32).reshape(height, width)


class ToolCamera(Camera):
    """The wrist camera: on the tool, looking along the tool axis (down when grasping)."""

    moves = True

    def __init__(self, sim: Simulation, robot, light: LightConfig, width: int, height: int) -> None:
        self.robot = robot
        super().__init__(sim, robot.description.wrist_camera, light, width, height)

    def set_episode(self, values: dict[str, float]) -> None:
        """The light of this episode (the view follows the tool, frame by frame)."""
        self._set_light(values)

    def render(self, width: int | None = None, height: int | None = None) -> np.ndarray:
        client = self.sim.client
        state = client.getLinkState(self.robot.body, self.robot.tool_index, computeForwardKinematics=True)
        rotation = np.array(client.getMatrixFromQuaternion(state[5])).reshape(3, 3)
        tool = self.robot.tool_position()
        mount = self.mount
        eye = tool - rotation[:, 2] * mount.back + rotation[:, 0] * mount.side
        target = tool + rotation[:, 2] * mount.ahead
        self._view = client.computeViewMatrix(eye.tolist(), target.tolist(), rotation[:, 0].tolist())
        return super().render(width, height)
