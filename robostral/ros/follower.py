"""Follow joint trajectories the way ros2_control's joint_trajectory_controller does, in plain Python.

A new trajectory for some joints replaces whatever those joints were following,
starting from where their target is now; positions are interpolated linearly in
time between points, and the last point is held once it is reached.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class TrajectoryFollower:
    """The commanded position of every joint at any time, from the trajectories received so far."""

    def __init__(self, joint_names: Sequence[str], initial: np.ndarray) -> None:
        self.joint_names = list(joint_names)
        self.index = {name: i for i, name in enumerate(self.joint_names)}
        self.hold(initial)

    def hold(self, positions: np.ndarray) -> None:
        """Forget every trajectory and hold ``positions`` (all joints)."""
        self.held = np.asarray(positions, dtype=np.float64).copy()
        # Per joint: times (absolute, s) and positions of its current segment list, first entry = start.
        self.times: list[np.ndarray | None] = [None] * len(self.joint_names)
        self.values: list[np.ndarray | None] = [None] * len(self.joint_names)

    def follow(self, names: Sequence[str], positions: np.ndarray, times: Sequence[float], now: float) -> None:
        """Start a trajectory received at ``now``: ``positions`` (P, len(names)) at ``now + times``.

        ValueError for joints this follower does not drive, or times that do not increase.
        """
        unknown = [name for name in names if name not in self.index]
        if unknown:
            driven = ", ".join(self.joint_names)
            raise ValueError(f"unknown joints {', '.join(unknown)}; this controller drives {driven}")
        times = np.asarray(times, dtype=np.float64)
        if times[0] < 0 or np.any(np.diff(times) <= 0):
            raise ValueError(f"time_from_start must be >= 0 and increasing, got {times.tolist()}")
        positions = np.asarray(positions, dtype=np.float64)
        start = self.target(now)
        for column, name in enumerate(names):
            joint = self.index[name]
            self.times[joint] = np.concatenate([[now], now + times])
            self.values[joint] = np.concatenate([[start[joint]], positions[:, column]])

    def target(self, at: float) -> np.ndarray:
        """Every joint's commanded position at time ``at``."""
        target = self.held.copy()
        for joint, (times, values) in enumerate(zip(self.times, self.values)):
            if times is not None:
                target[joint] = np.interp(at, times, values)
        return target
