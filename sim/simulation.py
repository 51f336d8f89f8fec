"""One PyBullet physics client, wrapped so that callers name bodies instead of juggling ids.

Each env owns exactly one ``Simulation``; nothing here is module-level, so many
envs can live in one process (vector envs, Ray workers) without sharing state.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import pybullet
import pybullet_data
from pybullet_utils.bullet_client import BulletClient


class Simulation:
    """A headless physics world stepped at ``physics_hz``; positions in metres, base frame = world."""

    def __init__(self, physics_hz: int = 240) -> None:
        with _quiet_stdout():  # pybullet's C code prints "argv[0]=" on connect, which corrupts --json output
            self.client = BulletClient(connection_mode=pybullet.DIRECT)
        self.client.setAdditionalSearchPath(pybullet_data.getDataPath())
        self.physics_hz = physics_hz
        self.client.setTimeStep(1.0 / physics_hz)
        self.client.setGravity(0, 0, -9.81)
        self.client.setPhysicsEngineParameter(deterministicOverlappingPairs=1)
        self._bodies: dict[str, int] = {}
        self._static: set[str] = set()  # bodies built here with mass 0: they never move

    # -- bodies -----------------------------------------------------------------
    def body(self, name: str) -> int:
        """The pybullet id of a named body (internal use by robots and cameras)."""
        return self._bodies[name]

    def has_body(self, name: str) -> bool:
        return name in self._bodies

    def load_urdf(self, name: str, path: str, position: Sequence[float], fixed: bool = True) -> int:
        flags = pybullet.URDF_USE_SELF_COLLISION_EXCLUDE_PARENT | pybullet.URDF_ENABLE_CACHED_GRAPHICS_SHAPES
        body = self.client.loadURDF(path, basePosition=position, useFixedBase=fixed, flags=flags)
        self._bodies[name] = body
        return body

    def create_box(
        self,
        name: str,
        half_extents: Sequence[float],
        position: Sequence[float],
        rgba: Sequence[float],
        mass: float = 0.0,
        yaw: float = 0.0,
        collision: bool = True,
    ) -> int:
        """A box; ``mass=0`` makes it static, ``collision=False`` makes it a visual-only marker."""
        visual = self.client.createVisualShape(pybullet.GEOM_BOX, halfExtents=half_extents, rgbaColor=rgba)
        shape = self.client.createCollisionShape(pybullet.GEOM_BOX, halfExtents=half_extents) if collision else -1
        return self._create(name, shape, visual, position, mass, yaw)

    def create_compound(
        self,
        name: str,
        boxes: Sequence[tuple[Sequence[float], Sequence[float]]],
        position: Sequence[float],
        rgba: Sequence[float],
    ) -> int:
        """A static body made of boxes given as (half_extents, offset) pairs, e.g. a bin."""
        extents = [list(b[0]) for b in boxes]
        offsets = [list(b[1]) for b in boxes]
        kinds = [pybullet.GEOM_BOX] * len(boxes)
        shape = self.client.createCollisionShapeArray(kinds, halfExtents=extents, collisionFramePositions=offsets)
        visual = self.client.createVisualShapeArray(
            kinds, halfExtents=extents, visualFramePositions=offsets, rgbaColors=[list(rgba)] * len(boxes)
        )
        return self._create(name, shape, visual, position, 0.0, 0.0)

    def create_disc(self, name: str, radius: float, position: Sequence[float], rgba: Sequence[float]) -> int:
        """A flat visual-only disc lying on the table (a target marker)."""
        visual = self.client.createVisualShape(pybullet.GEOM_CYLINDER, radius=radius, length=0.002, rgbaColor=rgba)
        return self._create(name, -1, visual, position, 0.0, 0.0)

    def _create(self, name: str, shape: int, visual: int, position, mass: float, yaw: float) -> int:
        if name in self._bodies:
            self.remove(name)
        orientation = self.client.getQuaternionFromEuler([0, 0, yaw])
        body = self.client.createMultiBody(mass, shape, visual, basePosition=position, baseOrientation=orientation)
        self._bodies[name] = body
        if mass == 0:
            self._static.add(name)
        return body

    def remove(self, name: str) -> None:
        self._static.discard(name)
        self.client.removeBody(self._bodies.pop(name))

    def set_dynamics(self, name: str, link: int = -1, **kwargs: float) -> None:
        """Change mass, friction, damping... of one link (``-1`` is the base)."""
        self.client.changeDynamics(self._bodies[name], link, **kwargs)

    def set_color(self, name: str, rgba: Sequence[float], link: int = -1) -> None:
        self.client.changeVisualShape(self._bodies[name], link, rgbaColor=rgba)

    # -- what cameras see ----------------------------------------------------------
    def static_bodies(self) -> list[str]:
        """Bodies that never move (the table, bins, markers): a fixed camera may draw them once."""
        return [name for name in self._bodies if name in self._static]

    def moving_bodies(self) -> list[str]:
        return [name for name in self._bodies if name not in self._static]

    def appearance(self, names: Iterable[str]) -> tuple:
        """Pose and visual shapes (colours included) of ``names``: equal values, equal pictures."""
        ids = [self._bodies[name] for name in names]
        return tuple((b, self.client.getBasePositionAndOrientation(b), self.client.getVisualShapeData(b)) for b in ids)

    @contextmanager
    def hidden(self, names: Iterable[str]) -> Iterator[None]:
        """Leave ``names`` out of camera images for the duration (alpha 0), then restore their colours.

        One colour per link comes back, the way ``set_color`` sets them.
        """
        shapes = [shape for name in names for shape in self.client.getVisualShapeData(self._bodies[name])]
        colors = {(shape[0], shape[1]): shape[7] for shape in shapes}  # (body, link) -> rgba
        for (body, link), rgba in colors.items():
            self.client.changeVisualShape(body, link, rgbaColor=[*rgba[:3], 0.0])
        try:
            yield
        finally:
            for (body, link), rgba in colors.items():
                self.client.changeVisualShape(body, link, rgbaColor=rgba)

    # -- state ------------------------------------------------------------------
    def position(self, name: str) -> np.ndarray:
        return np.array(self.client.getBasePositionAndOrientation(self._bodies[name])[0])

    def yaw(self, name: str) -> float:
        orientation = self.client.getBasePositionAndOrientation(self._bodies[name])[1]
        return float(self.client.getEulerFromQuaternion(orientation)[2])

    def speed(self, name: str) -> float:
        return float(np.linalg.norm(self.client.getBaseVelocity(self._bodies[name])[0]))

    def in_contact(self, name_a: str, name_b: str) -> bool:
        return bool(self.client.getContactPoints(self._bodies[name_a], self._bodies[name_b]))

    def step(self, steps: int = 1) -> None:
        step = self.client.stepSimulation  # BulletClient wraps each attribute lookup: look it up once
        for _ in range(steps):
            step()

    def save_state(self) -> int:
        return self.client.saveState()

    def restore_state(self, state_id: int) -> None:
        self.client.restoreState(stateId=state_id)

    @contextmanager
    def no_rendering(self) -> Iterator[None]:
        """Batch scene edits without re-uploading graphics after each one."""
        self.client.configureDebugVisualizer(self.client.COV_ENABLE_RENDERING, 0)
        try:
            yield
        finally:
            self.client.configureDebugVisualizer(self.client.COV_ENABLE_RENDERING, 1)

    def close(self) -> None:
        if self.client is not None:
            self.client.disconnect()
            self.client = None


@contextmanager
def _quiet_stdout() -> Iterator[None]:
    """Send file descriptor 1 to /dev/null for the duration (C-level prints included)."""
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)
