"""Timed joint paths for the pendant's moves (program steps, step jogs, moves to a waypoint).

A path is a polyline of joint positions (the first row where the arm is); it is timed with a
quintic ease-in/ease-out so that it starts and ends at rest, as slow as the slowest of its
bounds needs: each joint's velocity and acceleration limit and the tool speed, at ``speed`` (a
fraction of full speed). The supervisor re-checks every point, so these bounds are what keeps
it from having to re-time (a streamed window it stretched would lag the plan). Positions are
joint units (rad, m), times seconds from the start.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from robostral.pendant.motion.ik import ToolFrame

# The quintic s(t) = 10t^3 - 15t^4 + 6t^5 on [0, 1]: its peak speed and peak acceleration.
PEAK_SPEED = 1.875
PEAK_ACCELERATION = 5.7735
MIN_DURATION = 0.1  # s


@dataclasses.dataclass(frozen=True)
class PathLimits:
    """What a path is timed against (the joints' order is the path's columns)."""

    max_velocity: np.ndarray  # per joint
    max_acceleration: np.ndarray  # per joint
    full_tool_speed: float = 1.0  # m/s at speed 1
    tool_speed_cap: float | None = None  # m/s whatever the speed (the supervisor's manual-mode cap, with a margin)


@dataclasses.dataclass(frozen=True)
class TimedPath:
    times: np.ndarray  # (n,) s from the start, increasing, times[0] = 0
    positions: np.ndarray  # (n, joints); positions[0] is the start

    @property
    def duration(self) -> float:
        return float(self.times[-1])

    def at(self, t: float | np.ndarray) -> np.ndarray:
        """Positions at time(s) ``t`` (held at the ends)."""
        t = np.clip(np.atleast_1d(t), 0.0, self.duration)
        return np.stack([np.interp(t, self.times, column) for column in self.positions.T], axis=-1)


def time_path(rows: np.ndarray, limits: PathLimits, speed: float, period: float,
              frame: ToolFrame | None = None) -> TimedPath:
    """``rows`` (n, joints) timed at ``speed`` in (0, 1], sampled every ``period`` s.

    ``frame`` (for arm joints) adds the tool speed bound.
    """
    rows = np.asarray(rows, dtype=np.float64)
    if len(rows) == 1:
        rows = np.vstack([rows, rows])
    segments = len(rows) - 1
    steps = np.abs(np.diff(rows, axis=0)).max(axis=0)  # per joint, the largest change of one segment
    bounds = [MIN_DURATION,
              PEAK_SPEED * segments * float(np.max(steps / (speed * limits.max_velocity))),
              float(np.sqrt(PEAK_ACCELERATION * segments * np.max(steps / limits.max_acceleration)))]
    if frame is not None:
        travel = float(np.linalg.norm(np.diff(frame.pose(rows)[0], axis=0), axis=1).max())
        tool_speed = speed * limits.full_tool_speed
        if limits.tool_speed_cap is not None:
            tool_speed = min(tool_speed, limits.tool_speed_cap)
        bounds.append(PEAK_SPEED * segments * travel / tool_speed)
    duration = max(bounds)
    times = np.append(np.arange(0.0, duration, period), duration)
    if duration - times[-2] < period / 2:  # no sliver of a last step
        times = np.delete(times, -2) if len(times) > 2 else times
    tau = times / duration
    progress = segments * tau**3 * (10.0 - 15.0 * tau + 6.0 * tau**2)
    index = np.arange(len(rows))
    positions = np.stack([np.interp(progress, index, column) for column in rows.T], axis=-1)
    return TimedPath(times, positions)
