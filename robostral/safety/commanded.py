"""What the supervisor last commanded: the motion the controller is executing, as the supervisor knows it.

The supervisor trusts its own commands more than anything it hears: its controlled stops are
planned from here, never from a received joint state, and received joint states are checked
against it. The model is the controller's (joint_trajectory_controller, and the sim driver's
follower): a trajectory for some joints replaces what those joints were following, starting from
where their commanded position is at that moment; positions are interpolated linearly in time
between points, and the last point is held once it is reached. Times are seconds on the
supervisor's monotonic clock; positions joint units (rad or m).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class CommandedMotion:
    """Per joint, the commanded positions over time since the supervisor first commanded that joint."""

    def __init__(self, joint_names: Sequence[str]) -> None:
        self.joint_names = tuple(joint_names)
        self.forget()

    def forget(self) -> None:
        """Nothing commanded (yet, or since an engineer's reset re-based the supervisor on the arm)."""
        # per joint: absolute times (s) and positions of its segment list; the first entry is its start
        self.times: list[np.ndarray | None] = [None] * len(self.joint_names)
        self.values: list[np.ndarray | None] = [None] * len(self.joint_names)

    @property
    def known(self) -> np.ndarray:
        """Which joints have been commanded (bool per joint)."""
        return np.array([times is not None for times in self.times])

    def follow(self, names: Sequence[str], positions: np.ndarray, times: Sequence[float], now: float,
               start: np.ndarray) -> None:
        """A checked trajectory went out at ``now``: ``positions`` (P, len(names)) at ``now + times``.

        ``start`` (every joint, robot order) is where a joint commanded for the first time starts from:
        the measured state the trajectory was checked against.
        """
        begin = self.at(now, fallback=start)[0]
        for column, name in enumerate(names):
            joint = self.joint_names.index(name)
            self.times[joint] = np.concatenate([[now], now + np.asarray(times, dtype=np.float64)])
            self.values[joint] = np.concatenate([[begin[joint]], np.asarray(positions, dtype=np.float64)[:, column]])

    def at(self, now: float, fallback: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Commanded positions and velocities of every joint at ``now``; a joint never commanded reads
        ``fallback`` (NaN without one) at rest."""
        positions = np.full(len(self.joint_names), np.nan) if fallback is None else np.array(fallback, dtype=float)
        velocities = np.zeros(len(self.joint_names))
        for joint, (times, values) in enumerate(zip(self.times, self.values)):
            if times is None:
                continue
            positions[joint] = np.interp(now, times, values)
            segment = int(np.searchsorted(times, now, side="right"))
            if 0 < segment < len(times):
                velocities[joint] = (values[segment] - values[segment - 1]) / (times[segment] - times[segment - 1])
        return positions, velocities

    def in_motion(self, now: float) -> bool:
        """Whether any commanded joint still has somewhere to go after ``now`` (False once every last point
        is reached: the controller holds it)."""
        for times, values in zip(self.times, self.values):
            if times is None or now >= times[-1]:
                continue
            ahead = values[max(int(np.searchsorted(times, now, side="right")) - 1, 0):]
            if np.ptp(ahead) > 0:
                return True
        return False
