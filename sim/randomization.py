"""Domain randomization: one typed config, one ``level`` knob, fully seeded by the env.

Every range below is the value at ``level=1``; ``level`` scales them all linearly
(0 = nominal scene, 2 = twice the spread). ``enabled=False`` is the same as level 0.
The values drawn for an episode are returned as a flat dict, reported in ``info``.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class RandomizationConfig:
    enabled: bool = True
    level: float = 1.0
    object_position: float = 0.05  # m, jitter of each object around its layout slot
    object_yaw: float = 0.6  # rad, cube yaw jitter
    object_size: float = 0.12  # fraction of nominal cube size
    object_color: float = 0.08  # RGB jitter within the named colour
    table_color: float = 0.15  # RGB jitter of the table
    light_direction: float = 0.6  # rad, tilt of the light around nominal
    light_ambient: float = 0.15  # +/- around the nominal ambient coefficient
    camera_position: float = 0.02  # m, eye jitter per axis
    camera_angle: float = 0.03  # rad, look-at jitter
    object_mass: float = 0.3  # fraction of nominal mass
    object_friction: float = 0.25  # fraction of nominal friction
    joint_damping: float = 0.5  # N m s / rad, upper bound of arm joint damping
    action_latency: int = 2  # control steps, upper bound
    action_noise: float = 0.003  # rad (or m), std of Gaussian noise on joint targets

    def __post_init__(self) -> None:
        if not isinstance(self.enabled, (bool, np.bool_)):
            raise ValueError(f"RandomizationConfig.enabled must be true or false, got {self.enabled!r}")
        for name, value in asdict(self).items():
            if name == "enabled":
                continue
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
                raise ValueError(f"RandomizationConfig.{name} must be a number, got {value!r}")
            if not math.isfinite(value) or value < 0:  # math, not numpy: huge Python ints stay ints
                raise ValueError(f"RandomizationConfig.{name} must be a finite number >= 0, got {value!r}")
        if not isinstance(self.action_latency, numbers.Integral):
            raise ValueError(f"RandomizationConfig.action_latency must be an integer, got {self.action_latency!r}")

    @property
    def scale(self) -> float:
        """The factor applied to every range: 0 when disabled."""
        return self.level if self.enabled else 0.0

    def sample(self, rng: np.random.Generator) -> dict[str, float]:
        """Scene-wide values for one episode (per-object values are drawn by the task)."""
        s = self.scale
        tilt = rng.uniform(-1, 1, size=2) * self.light_direction * s
        return {
            "table_color_shift": float(rng.uniform(-1, 1) * self.table_color * s),
            "light_tilt_x": float(tilt[0]),
            "light_tilt_y": float(tilt[1]),
            "light_ambient_shift": float(rng.uniform(-1, 1) * self.light_ambient * s),
            "camera_dx": float(rng.uniform(-1, 1) * self.camera_position * s),
            "camera_dy": float(rng.uniform(-1, 1) * self.camera_position * s),
            "camera_dz": float(rng.uniform(-1, 1) * self.camera_position * s),
            "camera_pan": float(rng.uniform(-1, 1) * self.camera_angle * s),
            "camera_tilt": float(rng.uniform(-1, 1) * self.camera_angle * s),
            "joint_damping": float(rng.uniform(0, 1) * self.joint_damping * s),
            "action_latency": int(rng.integers(0, int(round(self.action_latency * s)) + 1)),
            "action_noise": float(self.action_noise * s),
        }

    def jitter(self, rng: np.random.Generator, name: str, size: int | None = None) -> np.ndarray | float:
        """A uniform draw in +/- the scaled range of ``name`` (per-object randomization)."""
        span = getattr(self, name) * self.scale
        return rng.uniform(-span, span, size=size) if size else float(rng.uniform(-span, span))
