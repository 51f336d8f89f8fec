"""Cameras: a fixed front camera and an optional wrist camera, rendered with TinyRenderer.

Images are H x W x 3 uint8 RGB. The front camera sits in front of the table,
facing the robot; domain randomization jitters its pose and the light.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pybullet

from sim.simulation import Simulation


@dataclass(frozen=True)
class CameraConfig:
    eye: tuple[float, float, float] = (1.15, 0.0, 0.95)  # m, world frame
    target: tuple[float, float, float] = (0.3, 0.0, 0.12)
    fov: float = 52.0  # degrees, vertical
    near: float = 0.05
    far: float = 3.0
    light_direction: tuple[float, float, float] = (0.6, 0.3, 1.0)
    light_ambient: float = 0.55


class Camera:
    """Renders one view of a ``Simulation``; pose and light set per episode."""

    def __init__(self, sim: Simulation, config: CameraConfig, width: int, height: int) -> None:
        self.sim = sim
        self.config = config
        self.width = width
        self.height = height
        self._projection = sim.client.computeProjectionMatrixFOV(config.fov, width / height, config.near, config.far)
        self.set_episode({})

    def set_episode(self, values: dict[str, float]) -> None:
        """Apply this episode's randomized pose and light (keys from ``RandomizationConfig.sample``)."""
        c = self.config
        eye = np.array(c.eye) + [values.get("camera_dx", 0.0), values.get("camera_dy", 0.0), values.get("camera_dz", 0.0)]
        forward = np.array(c.target) - eye
        distance = np.linalg.norm(forward)
        pan, tilt = values.get("camera_pan", 0.0), values.get("camera_tilt", 0.0)
        target = np.array(c.target) + distance * np.array([0.0, np.tan(pan), np.tan(tilt)])
        self._view = self.sim.client.computeViewMatrix(eye.tolist(), target.tolist(), [0, 0, 1])
        tilt_x, tilt_y = values.get("light_tilt_x", 0.0), values.get("light_tilt_y", 0.0)
        direction = np.array(c.light_direction) + [np.sin(tilt_x), np.sin(tilt_y), 0.0]
        self._light = {
            "lightDirection": direction.tolist(),
            "lightAmbientCoeff": float(np.clip(c.light_ambient + values.get("light_ambient_shift", 0.0), 0.05, 1.0)),
            "lightDiffuseCoeff": 0.6,
            "lightSpecularCoeff": 0.05,
        }

    def render(self, width: int | None = None, height: int | None = None) -> np.ndarray:
        """An RGB frame; a different size than the configured one is for videos only."""
        width, height = width or self.width, height or self.height
        projection = self._projection
        if (width, height) != (self.width, self.height):
            c = self.config
            projection = self.sim.client.computeProjectionMatrixFOV(c.fov, width / height, c.near, c.far)
        _, _, rgba, _, _ = self.sim.client.getCameraImage(
            width, height, self._view, projection, renderer=pybullet.ER_TINY_RENDERER, shadow=0, **self._light
        )
        return np.asarray(rgba, dtype=np.uint8).reshape(height, width, 4)[:, :, :3]


class WristCamera(Camera):
    """A camera on the tool, looking along the tool axis (down when grasping)."""

    def __init__(self, sim: Simulation, robot, width: int, height: int) -> None:
        self.robot = robot
        super().__init__(sim, CameraConfig(fov=70.0, near=0.01, far=1.5), width, height)

    def render(self, width: int | None = None, height: int | None = None) -> np.ndarray:
        client = self.sim.client
        state = client.getLinkState(self.robot.body, self.robot.tool_index, computeForwardKinematics=True)
        rotation = np.array(client.getMatrixFromQuaternion(state[5])).reshape(3, 3)
        tool = self.robot.tool_position()
        eye = tool - rotation[:, 2] * 0.12 + rotation[:, 0] * 0.05
        self._view = client.computeViewMatrix(eye.tolist(), (tool + rotation[:, 2] * 0.2).tolist(), rotation[:, 0].tolist())
        return super().render(width, height)
