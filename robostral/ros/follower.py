"""Follow joint trajectories the way ros2_control's joint_trajectory_controller does, in plain Python.

A new trajectory for some joints replaces whatever those joints were following,
starting from their commanded state now; between points it interpolates linearly when
only positions are given, with cubic splines when velocities are given too and quintic
splines when accelerations are as well (``CommandedMotion``), and the last point is held
once it is reached. A trajectory the
controller cannot follow (unknown joints, NaN or infinite values, times that are negative
or do not increase, more than ``MAX_POINTS`` points, positions outside the
joints' limits) is refused whole with a ValueError, and what was followed goes on.
Positions are joint units (rad or m), times seconds.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from robostral.safety import MAX_POINTS, CommandedMotion
from robostral.safety.trajectory import ROUNDING  # a measured pose re-sent sits a hair past a limit


class TrajectoryFollower:
    """The commanded position of every joint at any time, from the trajectories received so far."""

    def __init__(self, joint_names: Sequence[str], initial: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> None:
        """``lower`` and ``upper``: the joints' position limits (the robot's URDF), in ``joint_names`` order."""
        self.joint_names = list(joint_names)
        self.index = {name: i for i, name in enumerate(self.joint_names)}
        self.lower = np.asarray(lower, dtype=np.float64)
        self.upper = np.asarray(upper, dtype=np.float64)
        self.hold(initial)

    def hold(self, positions: np.ndarray) -> None:
        """Forget every trajectory and hold ``positions`` (all joints)."""
        self.held = np.asarray(positions, dtype=np.float64).copy()
        self.motion = CommandedMotion(self.joint_names)  # the same model of a controller the supervisor keeps

    def follow(self, names: Sequence[str], positions: np.ndarray, times: Sequence[float], now: float,
               velocities: np.ndarray | None = None, accelerations: np.ndarray | None = None) -> None:
        """Start a trajectory received at ``now``: ``positions`` (P, len(names)) at ``now + times``, with their
        ``velocities`` and ``accelerations`` where the trajectory gives them.

        ValueError, and nothing changes, for a trajectory this controller cannot follow (see the module).
        """
        self.check(names, positions, times)
        for field, values in (("velocity", velocities), ("acceleration", accelerations)):
            if values is not None:
                bad = np.argwhere(~np.isfinite(np.asarray(values, dtype=np.float64)))
                if bad.size:
                    point, column = bad[0]
                    raise ValueError(f"point {point}: {names[column]} {field} is {values[point][column]}")
        self.motion.follow(names, np.asarray(positions, dtype=np.float64), times, now, start=self.held,
                           velocities=velocities, accelerations=accelerations)

    def check(self, names: Sequence[str], positions: np.ndarray, times: Sequence[float]) -> None:
        """ValueError saying why the trajectory cannot be followed; nothing when it can."""
        if len(times) > MAX_POINTS:
            raise ValueError(f"{len(times)} points; at most {MAX_POINTS} are followed")
        if not len(names) or len(set(names)) != len(names):
            raise ValueError(f"joint names must be distinct and non-empty, got {list(names)}")
        unknown = [name for name in names if name not in self.index]
        if unknown:
            driven = ", ".join(self.joint_names)
            raise ValueError(f"unknown joints {', '.join(unknown)}; this controller drives {driven}")
        times = np.asarray(times, dtype=np.float64)
        positions = np.asarray(positions, dtype=np.float64)
        if times.ndim != 1 or not len(times) or positions.shape != (len(times), len(names)):
            raise ValueError(f"{positions.shape} positions for {len(times)} times and {len(names)} joints")
        if not np.isfinite(times).all() or times[0] < 0 or np.any(np.diff(times) <= 0):
            raise ValueError(f"time_from_start must be finite, >= 0 and increasing, got {times.tolist()[:10]}")
        bad = np.argwhere(~np.isfinite(positions))
        if bad.size:
            point, column = bad[0]
            raise ValueError(f"point {point}: {names[column]} position is {positions[point, column]}")
        joints = [self.index[name] for name in names]
        lower, upper = self.lower[joints] - ROUNDING, self.upper[joints] + ROUNDING
        outside = np.argwhere((positions < lower) | (positions > upper))
        if outside.size:
            point, column = outside[0]
            raise ValueError(f"point {point}: {names[column]} position {positions[point, column]:.6g} is outside "
                             f"its limits [{self.lower[joints[column]]:.6g}, {self.upper[joints[column]]:.6g}]")

    def target(self, at: float) -> np.ndarray:
        """Every joint's commanded position at time ``at``."""
        return self.motion.at(at, fallback=self.held).positions
