"""What the supervisor last commanded: the motion the controller is executing, as the supervisor knows it.

The supervisor trusts its own commands more than anything it hears: its controlled stops are
planned from here, never from a received joint state, and received joint states are checked
against it; a new command starts from its position, velocity and acceleration. The model is the
controller's (ros2_control's joint_trajectory_controller, and the sim driver's follower): a
trajectory for some joints replaces what those joints were following, starting from their
commanded state at that moment; between points the controller interpolates linearly when only
positions are given, with a cubic when velocities are given too, and with a quintic when
accelerations are given as well; the last point is held (at rest) once it is reached. Times are
seconds on the supervisor's monotonic clock; positions joint units (rad or m).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class MotionState:
    """Commanded positions, velocities and accelerations of every joint (robot order) at one moment."""

    positions: np.ndarray
    velocities: np.ndarray
    accelerations: np.ndarray


@dataclass(frozen=True)
class _Knots:
    """One joint's trajectory: absolute times and the state at each; knot 0 is where it started from."""

    times: np.ndarray
    positions: np.ndarray
    velocities: np.ndarray | None  # None: positions only (linear interpolation)
    accelerations: np.ndarray | None  # None with velocities: a cubic; given: a quintic

    def at(self, now: float) -> tuple[float, float, float]:
        if now >= self.times[-1]:
            return float(self.positions[-1]), 0.0, 0.0  # the controller holds the last point
        segment = max(int(np.searchsorted(self.times, now, side="right")), 1)
        i, k = segment - 1, segment
        h, tau = self.times[k] - self.times[i], max(now - self.times[i], 0.0)
        p0, p1 = self.positions[i], self.positions[k]
        if self.velocities is None:
            return float(p0 + (p1 - p0) * tau / h), float((p1 - p0) / h), 0.0
        v0, v1 = self.velocities[i], self.velocities[k]
        a0, a1 = (0.0, 0.0) if self.accelerations is None else (self.accelerations[i], self.accelerations[k])
        return _polynomial_state(_hermite(h, p0, p1, v0, v1, a0, a1, quintic=self.accelerations is not None), tau)

    def moves_after(self, now: float) -> bool:
        """Whether anything is left to do after ``now``: a position change, a velocity or an acceleration."""
        if now >= self.times[-1]:
            return False
        ahead = slice(max(int(np.searchsorted(self.times, now, side="right")) - 1, 0), None)
        rates = [values[ahead] for values in (self.velocities, self.accelerations) if values is not None]
        return bool(np.ptp(self.positions[ahead]) > 0 or any(np.any(values != 0) for values in rates))


def _hermite(h: float, p0: float, p1: float, v0: float, v1: float, a0: float, a1: float,
             quintic: bool) -> np.ndarray:
    """Coefficients (c0..c5, by power of time since the segment's start) of the cubic (positions and
    velocities at both ends) or the quintic (accelerations too) over a segment of ``h`` seconds."""
    if not quintic:
        rest = p1 - p0 - v0 * h
        return np.array([p0, v0, (3 * rest - (v1 - v0) * h) / h**2, ((v1 - v0) * h - 2 * rest) / h**3, 0.0, 0.0])
    rest, dv, da = p1 - p0 - v0 * h - a0 * h * h / 2, v1 - v0 - a0 * h, a1 - a0
    return np.array([p0, v0, a0 / 2,
                     (10 * rest - 4 * dv * h + 0.5 * da * h * h) / h**3,
                     (-15 * rest + 7 * dv * h - da * h * h) / h**4,
                     (6 * rest - 3 * dv * h + 0.5 * da * h * h) / h**5])


def _polynomial_state(c: np.ndarray, t: float) -> tuple[float, float, float]:
    """Position, velocity and acceleration of the polynomial with coefficients ``c`` (c0..c5) at ``t``."""
    powers = t ** np.arange(6)
    position = float(c @ powers)
    velocity = float(c[1:] @ (np.arange(1, 6) * powers[:5]))
    acceleration = float(c[2:] @ (np.array([2, 6, 12, 20]) * powers[:4]))
    return position, velocity, acceleration


class CommandedMotion:
    """Per joint, the commanded motion over time since the supervisor first commanded that joint."""

    def __init__(self, joint_names: Sequence[str]) -> None:
        self.joint_names = tuple(joint_names)
        self.forget()

    def forget(self) -> None:
        """Nothing commanded (yet, or since an engineer's reset re-based the supervisor on the arm)."""
        self.knots: list[_Knots | None] = [None] * len(self.joint_names)

    @property
    def known(self) -> np.ndarray:
        """Which joints have been commanded (bool per joint)."""
        return np.array([knots is not None for knots in self.knots])

    def follow(self, names: Sequence[str], positions: np.ndarray, times: Sequence[float], now: float,
               start: np.ndarray, velocities: np.ndarray | None = None,
               accelerations: np.ndarray | None = None) -> None:
        """A checked trajectory went out at ``now``: ``positions`` (P, len(names)) at ``now + times``, with
        their ``velocities`` and ``accelerations`` (same shape) when the trajectory carries them.

        ``start`` (every joint, robot order) is where a joint commanded for the first time starts from
        (at rest): the measured state the trajectory was checked against.
        """
        begin = self.at(now, fallback=start)
        times = np.concatenate([[now], now + np.asarray(times, dtype=np.float64)])
        accelerations = None if velocities is None else accelerations
        for column, name in enumerate(names):
            joint = self.joint_names.index(name)
            self.knots[joint] = _Knots(times, *(
                None if values is None else np.concatenate([[first[joint]], np.asarray(values)[:, column]])
                for first, values in ((begin.positions, positions), (begin.velocities, velocities),
                                      (begin.accelerations, accelerations))))

    def at(self, now: float, fallback: np.ndarray | None = None) -> MotionState:
        """The commanded state of every joint at ``now``; a joint never commanded reads ``fallback`` (NaN
        without one) at rest."""
        positions = np.full(len(self.joint_names), np.nan) if fallback is None else np.array(fallback, dtype=float)
        velocities = np.zeros(len(self.joint_names))
        accelerations = np.zeros(len(self.joint_names))
        for joint, knots in enumerate(self.knots):
            if knots is not None:
                positions[joint], velocities[joint], accelerations[joint] = knots.at(now)
        return MotionState(positions, velocities, accelerations)

    def in_motion(self, now: float) -> bool:
        """Whether any commanded joint still has somewhere to go after ``now`` (False once every last point
        is reached: the controller holds it)."""
        return any(knots is not None and knots.moves_after(now) for knots in self.knots)
