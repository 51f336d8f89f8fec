"""Checking a joint trajectory before it reaches a controller: reject garbage, slow down what is too fast.

Rejected outright, with a reason naming the joint and point: joint names that are unknown,
repeated, or not one of the sets a controller takes (all joints, the arm joints, the gripper
joint); points of the wrong length; NaN, inf or non-numbers; times that are not finite, not
positive or not increasing; positions outside the joint limits less their margin; a tool point
outside the workspace box, at a point or between points; more than ``MAX_POINTS`` points, or a path
too long to sample (bounded work: no message can hold the supervisor).

Re-timed, never rejected: motion faster than the joint velocity or acceleration limits, or
than the manual-mode tool speed cap. Like an industrial controller's speed override, every
``time_from_start`` is multiplied by one factor, ``1 / speed_override`` times the smallest
stretch that brings every limit within bounds: the path stays, only slower. A 0% override
pauses: a valid trajectory comes back as ``Paused`` (hold with ``controlled_stop``).

Model of the motion: the controller interpolates linearly in joint space between points
(positions only; incoming velocities and accelerations are dropped). A segment's velocity is
its displacement over its duration, reached at its middle; accelerations are the changes
between consecutive segments' velocities, the first from the current velocity over half the
first segment. The end need not be at rest: streamed chunks replace each other before they
end; the controller holds the last point, and the supervisor's watchdog guards the stream.
The tool point (forward kinematics) is checked at the points and between them, every
``SafetyConfig.sample_step`` of joint motion, for the box and, in manual mode, for its speed
there. While the arm starts outside the box, the way back to a point inside it is not held
against it. Positions are joint units (rad or m), times seconds, tool points metres.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from robostral.safety.limits import JointLimits, SafetyConfig
from robots import ToolKinematics

# Every stretch is this much longer than the bound it meets: rounding never lands a hair over a limit.
STRETCH_MARGIN = 1.0 + 1e-6
# Joint units: a target this close outside a bound is taken as on it. Joint states read back from a
# simulator or encoder sit a hair past a limit (a Panda finger reads 0.04 + 1e-8 m fully open).
ROUNDING = 1e-6
# Step, as a fraction of a segment's joint motion, of the central differences that give the tool speed.
RATE_STEP = 1e-4
# Bounded work per command, so that no message can hold the supervisor (a policy chunk has 10 to 50 points,
# a pendant chunk a few): more points, or more tool-point samples along them, are refused with the reason.
MAX_POINTS = 1000
MAX_SAMPLES = 50_000


@dataclass(frozen=True)
class TrajectoryPoint:
    positions: Sequence[float]  # joint units, in the trajectory's joint_names order
    time_from_start: float  # s
    velocities: Sequence[float] | None = None  # joint units per s: the supervisor's plans and stops give them
    accelerations: Sequence[float] | None = None  # per s squared


@dataclass(frozen=True)
class Trajectory:
    """A joint trajectory as trajectory_msgs/JointTrajectory carries it."""

    joint_names: Sequence[str]
    points: Sequence[TrajectoryPoint]


@dataclass(frozen=True)
class Accepted:
    """A trajectory that may go to the controllers, its joints in the robot's order."""

    trajectory: Trajectory
    time_scale: float  # output time_from_start over input: 1 / speed_override times the limits' stretch
    note: str = ""  # what stretched it beyond the speed override, for diagnostics


@dataclass(frozen=True)
class Paused:
    """A valid trajectory under a 0% speed override: hold these joints (``controlled_stop``) instead."""

    joint_names: tuple[str, ...]
    reason: str = "speed override 0%: holding"


@dataclass(frozen=True)
class Rejected:
    reason: str


class _Unsafe(ValueError):
    """Raised inside the checks with the reason a trajectory is rejected."""


def check_trajectory(
    trajectory: Trajectory,
    positions: Sequence[float],
    velocities: Sequence[float],
    *,
    limits: JointLimits,
    kinematics: ToolKinematics,
    config: SafetyConfig,
    speed_override: float = 1.0,
    tool_speed_cap: float | None = None,
) -> Accepted | Paused | Rejected:
    """Check ``trajectory`` from the current joint state (``positions``, ``velocities``: robot joint order).

    ``speed_override`` in [0, 1] scales speed (time by its inverse); ``tool_speed_cap`` (m/s; in manual
    mode ``config.manual_tool_speed``) bounds the tool point's speed along the path.
    """
    if not set(kinematics.joint_names) <= set(limits.names):
        raise ValueError(f"kinematics joints {kinematics.joint_names} are not all in the limits {limits.names}")
    try:
        if not _is_number(speed_override) or not 0.0 <= speed_override <= 1.0:
            raise _Unsafe(f"speed override {speed_override!r} is not a number in [0, 1]")
        if tool_speed_cap is not None and not (_is_number(tool_speed_cap) and tool_speed_cap > 0):
            raise _Unsafe(f"tool speed cap {tool_speed_cap!r} is not a number > 0 (m/s)")
        start, start_velocity = _current_state(positions, velocities, limits)
        names, times, targets = _parse(trajectory, limits)
        index = [limits.names.index(name) for name in names]
        targets = _check_positions(targets, names, index, limits)
        path = None
        if set(names) & set(kinematics.joint_names):
            path = ToolPath.sample(start, targets, index, limits, kinematics, config.sample_step)
            path.check_workspace(config)
        if speed_override == 0.0:
            return Paused(names)
        motion = _Motion(
            start=start[index],
            start_velocity=start_velocity[index],
            targets=targets,
            max_velocity=np.asarray(limits.max_velocity)[index],
            max_acceleration=np.asarray(limits.max_acceleration)[index],
            names=names,
            path=path,
            tool_speed_cap=tool_speed_cap,
        )
        with np.errstate(over="ignore"):
            times = times / speed_override
        if not np.all(np.isfinite(times)):
            raise _Unsafe(f"speed override {speed_override!r} slows the trajectory past any finite time")
        stretch, note = motion.stretch(_steps(times))
        times = times * stretch
        if not (np.all(np.isfinite(times)) and motion.within_limits(_steps(times))):
            raise _Unsafe(f"cannot re-time the trajectory within the limits (it would last {times[-1]:.3g} s)")
    except _Unsafe as error:
        return Rejected(str(error))
    points = tuple(TrajectoryPoint(tuple(row.tolist()), float(t)) for row, t in zip(targets, times))
    return Accepted(Trajectory(names, points), time_scale=stretch / speed_override, note=note)


def _is_number(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _current_state(positions: Sequence[float], velocities: Sequence[float], limits: JointLimits):
    """The current joint state as arrays; rejected unless finite and one value per robot joint."""
    try:
        state = np.asarray([positions, velocities], dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        state = None
    if state is None or state.shape != (2, len(limits.names)) or not np.all(np.isfinite(state)):
        raise _Unsafe(
            f"current joint state must be {len(limits.names)} finite positions and velocities "
            f"({', '.join(limits.names)}), got {positions!r}, {velocities!r}"
        )
    return state[0], state[1]


def _parse(trajectory: Trajectory, limits: JointLimits) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
    """(joint names in robot order, times (n,), positions (n, joints) in that order) of a well-formed trajectory."""
    given = list(trajectory.joint_names)
    if not given:
        raise _Unsafe("trajectory names no joints")
    repeated = sorted({str(name) for name in given if given.count(name) > 1})
    if repeated:
        raise _Unsafe(f"joint name(s) {', '.join(repeated)} appear more than once")
    unknown = [repr(name) for name in given if name not in limits.names]
    if unknown:
        raise _Unsafe(f"unknown joint(s) {', '.join(unknown)}; this robot's joints: {', '.join(limits.names)}")
    if set(given) not in [set(group) for group in limits.groups]:
        expected = limits.arm_names if set(given) <= set(limits.arm_names) else limits.names
        missing = [name for name in expected if name not in given]
        raise _Unsafe(
            f"missing joint(s) {', '.join(missing)}: a trajectory carries all the arm joints, "
            f"the gripper joint ({limits.gripper_name}), or both"
        )
    if not trajectory.points:
        raise _Unsafe("trajectory has no points")
    if len(trajectory.points) > MAX_POINTS:
        raise _Unsafe(f"trajectory has {len(trajectory.points)} points; at most {MAX_POINTS} are checked")
    rows, times = [], []
    for i, point in enumerate(trajectory.points):
        try:
            row = np.asarray(point.positions, dtype=np.float64)
            time = float(point.time_from_start)
        except (TypeError, ValueError, OverflowError):
            raise _Unsafe(f"point {i}: positions and time_from_start must be numbers") from None
        if row.shape != (len(given),):
            raise _Unsafe(f"point {i} has {row.size} positions for {len(given)} joints")
        bad = np.flatnonzero(~np.isfinite(row))
        if bad.size:
            raise _Unsafe(f"point {i}: joint {given[bad[0]]} position is {row[bad[0]]}")
        before = times[-1] if times else 0.0
        if not math.isfinite(time) or time <= before:
            after = "the start (0 s)" if i == 0 else f"point {i - 1} ({before:.6g} s)"
            raise _Unsafe(f"point {i}: time_from_start {time:.6g} s must be finite and after {after}")
        rows.append(row)
        times.append(time)
    names = tuple(name for name in limits.names if name in given)
    columns = [given.index(name) for name in names]
    return names, np.array(times), np.array(rows)[:, columns]


def _check_positions(
    targets: np.ndarray, names: tuple[str, ...], index: list[int], limits: JointLimits
) -> np.ndarray:
    """The targets, those within ``ROUNDING`` of a bound put on it (a measured pose re-sent, say)."""
    low, high = limits.low[index], limits.high[index]
    outside = np.argwhere((targets < low - ROUNDING) | (targets > high + ROUNDING))
    if outside.size:
        i, j = outside[0]
        raise _Unsafe(
            f"point {i}: joint {names[j]} position {targets[i, j]:.6g} is outside [{low[j]:.6g}, {high[j]:.6g}] "
            f"(its limits [{limits.lower[index[j]]:.6g}, {limits.upper[index[j]]:.6g}] less a "
            f"{limits.margin[index[j]]:.6g} margin)"
        )
    return np.clip(targets, low, high)


def _steps(times: np.ndarray) -> np.ndarray:
    """Durations of the segments: from the start to point 0, then between consecutive points."""
    return np.diff(times, prepend=0.0)


@dataclass(frozen=True)
class ToolPath:
    """The tool point along the trajectory: at both ends of every segment and at samples between them.

    Sample ``k`` of ``counts[s]`` in segment ``s`` (0: from the current positions to point 0) lies at
    the fraction ``k / counts[s]`` of the segment's joint motion; ``k = 0`` is its start.
    """

    points: np.ndarray  # (m, 3), metres, base frame
    segment: np.ndarray  # (m,)
    k: np.ndarray  # (m,)
    counts: np.ndarray  # (n,) sub-steps per segment
    rates: np.ndarray  # (m,) tool speed per unit of segment fraction, m: times 1 / duration gives m/s

    @classmethod
    def sample(
        cls,
        start: np.ndarray,
        targets: np.ndarray,
        index: list[int],
        limits: JointLimits,
        kinematics: ToolKinematics,
        step: float,
        rates: bool = True,
    ) -> ToolPath:
        """Sub-steps of at most ``step`` (joint units) of motion of any joint; ``rates=False`` leaves the tool
        speeds out (zeros), for a check of the box alone."""
        configurations = np.tile(start, (len(targets) + 1, 1))
        configurations[1:, index] = targets
        arm = configurations[:, [limits.names.index(name) for name in kinematics.joint_names]]
        deltas = np.diff(arm, axis=0)
        counts = np.maximum(1, np.ceil(np.max(np.abs(deltas), axis=1) / step)).astype(np.int64)
        if counts.sum() > MAX_SAMPLES:
            raise _Unsafe(f"trajectory travels too far to check: {counts.sum()} tool-point samples "
                          f"(at most {MAX_SAMPLES}, one per {step:g} of joint motion)")
        segment = np.repeat(np.arange(len(counts)), counts + 1)
        k = np.arange(len(segment)) - np.repeat(np.cumsum(counts + 1) - (counts + 1), counts + 1)
        direction = deltas[segment]
        samples = arm[segment] + (k / counts[segment])[:, None] * direction
        speeds = np.zeros(len(samples))
        if rates:  # the speed at each sample, not the mean over a sub-step: a central difference along the motion
            ahead = kinematics.tool_points(samples + RATE_STEP * direction)
            behind = kinematics.tool_points(samples - RATE_STEP * direction)
            speeds = np.linalg.norm(ahead - behind, axis=1) / (2.0 * RATE_STEP)
        points = kinematics.tool_points(samples)
        return cls(points=points, segment=segment, k=k, counts=counts, rates=speeds)

    def check_workspace(self, config: SafetyConfig, free: int = 1) -> None:
        """ValueError unless the tool point stays in the box; while the arm starts outside it, the way back
        is free along the first ``free`` segments, whose end must be inside."""
        box = config.workspace
        at_point = self.k == self.counts[self.segment]
        checked = self.k > 0
        if not box.contains(self.points[0]):
            checked &= (self.segment >= free) | (at_point & (self.segment == free - 1))
        outside = checked & ~box.contains(self.points)
        if outside.any():
            s = int(np.argmax(outside))
            i = int(self.segment[s])
            where = f"({', '.join(f'{x:.3f}' for x in self.points[s])}) m"
            extent = " x ".join(f"[{a:g}, {b:g}]" for a, b in zip(box.low, box.high))
            if at_point[s]:
                raise _Unsafe(f"point {i}: tool point {where} is outside the workspace box {extent} m")
            before = "the current position" if i == 0 else f"point {i - 1}"
            raise _Unsafe(
                f"between {before} and point {i}: the tool point passes {where}, outside the workspace box {extent} m"
            )

    def speeds(self, steps: np.ndarray) -> np.ndarray:
        """Tool speed (m/s) at every sample for segment durations ``steps`` (s)."""
        return self.rates / steps[self.segment]


@dataclass(frozen=True)
class _Motion:
    """The trajectory's joints from the current state, with their limits: what re-timing has to satisfy."""

    start: np.ndarray  # (m,) current positions
    start_velocity: np.ndarray  # (m,)
    targets: np.ndarray  # (n, m)
    max_velocity: np.ndarray  # (m,)
    max_acceleration: np.ndarray  # (m,)
    names: tuple[str, ...]
    path: ToolPath | None
    tool_speed_cap: float | None

    def rates(self, steps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Velocities (n, m) of the segments and accelerations (n, m) into them, for segment durations ``steps``."""
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            velocity = np.diff(np.vstack([self.start, self.targets]), axis=0) / steps[:, None]
            previous = np.vstack([self.start_velocity, velocity[:-1]])
            spans = np.append(steps[0] / 2.0, (steps[:-1] + steps[1:]) / 2.0)  # between the segments' middles
            return velocity, (velocity - previous) / spans[:, None]

    def within_limits(self, steps: np.ndarray) -> bool:
        velocity, acceleration = self.rates(steps)
        tool_ok = self.path is None or self.tool_speed_cap is None
        if not tool_ok:
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                tool_ok = bool(np.all(self.path.speeds(steps) <= self.tool_speed_cap))
        return (
            bool(np.all(np.abs(velocity) <= self.max_velocity))
            and bool(np.all(np.abs(acceleration) <= self.max_acceleration))
            and tool_ok
        )

    def stretch(self, steps: np.ndarray) -> tuple[float, str]:
        """The smallest factor (>= 1) on every time that meets the limits, and what set it ("" for none).

        Stretching time by ``s`` divides velocities by ``s``, accelerations between segments by ``s**2``
        and the tool speed by ``s``; the acceleration from the current velocity is solved for apart.
        """
        velocity, acceleration = self.rates(steps)
        if not (np.all(np.isfinite(velocity)) and np.all(np.isfinite(acceleration))):
            raise _Unsafe(f"points too close in time to re-time (shortest step {np.min(steps):.3g} s)")
        bounds = [(1.0, "")]
        ratio = np.abs(velocity) / self.max_velocity
        bounds.append((float(ratio.max()), f"{self.names[np.argmax(ratio.max(axis=0))]} velocity limit"))
        if len(steps) > 1:
            ratio = np.abs(acceleration[1:]) / self.max_acceleration
            bounds.append((math.sqrt(ratio.max()), f"{self.names[np.argmax(ratio.max(axis=0))]} acceleration limit"))
        if self.path is not None and self.tool_speed_cap is not None:
            speed = float(self.path.speeds(steps).max())
            bounds.append((speed / self.tool_speed_cap, f"tool speed cap ({self.tool_speed_cap:g} m/s)"))
        scale, reason = max(bounds, key=lambda bound: bound[0])
        if scale > 1.0:
            scale *= STRETCH_MARGIN
        reach = self.max_acceleration * steps[0] / 2.0
        first, joint = _first_segment_scale(scale, velocity[0], self.start_velocity, reach)
        if joint is not None:
            scale, reason = first, f"{self.names[joint]} acceleration limit from its current velocity"
        return scale, f"slowed {scale:.3g}x beyond the speed override for the {reason}" if reason else ""


def _first_segment_scale(
    scale: float, velocity: np.ndarray, current: np.ndarray, reach: np.ndarray
) -> tuple[float, int | None]:
    """The smallest ``s >= scale`` with ``|velocity / s - current| <= reach * s`` for every joint (give or take
    ``STRETCH_MARGIN``), and the joint that raised it above ``scale`` (None if none did).

    ``reach`` is the acceleration limit times half the first segment. Multiplied by ``s`` the condition is
    ``reach s^2 + current s - velocity >= 0`` and ``reach s^2 - current s + velocity >= 0``: it fails
    between the real roots of either quadratic, so the answer is the first ``s >= scale`` in none of
    those intervals (several: a joint already moving the right way may be fine fast and slow but not between).
    """
    intervals = []
    for j in range(len(velocity)):
        for b, c in ((current[j], -velocity[j]), (-current[j], velocity[j])):
            with np.errstate(over="ignore", invalid="ignore"):
                discriminant = b * b - 4.0 * reach[j] * c
            if discriminant > 0:
                q = -(b + math.copysign(math.sqrt(discriminant), b)) / 2.0  # no cancellation
                roots = sorted((q / reach[j], c / q))
                intervals.append((roots[0], roots[1], j))
    joint = None
    moved = True
    while moved:
        moved = False
        for low, high, j in intervals:
            if low < scale < high:
                scale, joint, moved = high * STRETCH_MARGIN, j, True
    return scale, joint
