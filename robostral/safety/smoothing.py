"""Jerk-limited motion through a checked trajectory's points: what the supervisor sends the controllers.

``check_trajectory`` leaves positions at times within the velocity and acceleration limits of a
linear model. Sent as they are, a controller that interpolates positions only makes the velocity
jump at every point and at every hand-off between streamed chunks. ``smooth_motion`` instead plans
with Ruckig (time-optimal, jerk-limited: https://ruckig.com) a motion from the commanded state
(position, velocity and acceleration, where the controller is now) through every point in turn,
reaching each no earlier than its time, within each joint's velocity, acceleration and jerk limits
(the robot description's). Each point is passed with the velocity the path keeps there: the
harmonic mean of the velocities of the segments either side, 0 where the path turns and at the
last point (the motion ends at rest, where the controller holds it). The way into the last point
takes as long as braking evenly from the incoming velocity, up to twice its given time: a stream
that stops comes to rest there without first speeding up beyond the way in or the points' own pace
(a streamed chunk is replaced long before its end). The plan is sent as samples
with positions, velocities and accelerations: every ``SAMPLE_PERIOD`` and at each point; a
controller interpolating them with quintic splines (joint_trajectory_controller) follows the plan.

The safety checks apply to every sample: positions within the limits less their margin (or no
further out than the arm already is), velocities and accelerations within the limits, the tool
point inside the workspace box along the sampled path, and, in manual mode, the tool speed cap (a
plan that starts above it, braking, may only slow down to it).
A plan that would break the tool speed cap is slowed (its points' times stretched) and planned
again; one that still breaks a check is rejected with the reason. Positions are joint units (rad
or m), times seconds.
"""

from __future__ import annotations

import math
from bisect import bisect
from dataclasses import dataclass
from itertools import accumulate

import numpy as np
from ruckig import InputParameter, Result, Ruckig, RuckigError
from ruckig import Trajectory as RuckigTrajectory

from robostral.safety.commanded import MotionState
from robostral.safety.limits import JointLimits, SafetyConfig
from robostral.safety.trajectory import ROUNDING, Accepted, Rejected, ToolPath, Trajectory, TrajectoryPoint
from robots import ToolKinematics

SAMPLE_PERIOD = 0.02  # s between the samples sent, at most: under half a policy chunk's point spacing (0.05 s)
# At most this many samples go out (a controller takes MAX_POINTS): a longer plan keeps its points and an even
# share of the samples between them, each still exactly the plan's state; only the spline between differs a little.
MAX_SENT = 800
NEGLIGIBLE = 1e-12  # joint units: a smaller move is none (Ruckig cannot synchronize a denormal one)
MIN_STEP = 2e-6  # s: closer knots of a plan are sent as one sample (a quintic over less is numerically poor)
# A check passes within this relative excess over a limit: Ruckig's own rounding.
TOLERANCE = 1e-6
# Times a plan that breaks the manual-mode tool speed cap is slowed and planned again before it is rejected.
RETIMES = 4
# Central-difference step (s) along the velocity that gives the tool speed at a sample, and the relative error
# the tool speed cap allows it.
SPEED_STEP = 1e-4
SPEED_TOLERANCE = 1e-3


@dataclass(frozen=True)
class _Plan:
    """Samples of a planned motion: times from its start (n,), and positions, velocities and accelerations
    (n, joints); ``at_point[k]``: whether sample ``k`` is one of the trajectory's points."""

    times: np.ndarray
    positions: np.ndarray
    velocities: np.ndarray
    accelerations: np.ndarray
    at_point: np.ndarray


def smooth_motion(
    accepted: Accepted,
    start: MotionState,
    *,
    limits: JointLimits,
    kinematics: ToolKinematics,
    config: SafetyConfig,
    tool_speed_cap: float | None = None,
) -> Accepted | Rejected:
    """The jerk-limited plan through ``accepted``'s points from the commanded state ``start`` (every joint,
    robot order), as an Accepted trajectory whose points carry velocities and accelerations; or why not."""
    trajectory = accepted.trajectory
    names = tuple(trajectory.joint_names)
    index = [limits.names.index(name) for name in names]
    targets = np.array([point.positions for point in trajectory.points], dtype=np.float64)
    times = np.array([point.time_from_start for point in trajectory.points], dtype=np.float64)
    stretch = 1.0
    try:
        for _ in range(RETIMES + 1):
            plan = _plan(targets, times * stretch, start, index, limits)
            _check_limits(plan, start.positions[index], names, index, limits)
            slower = _tool_speed_excess(plan, start, index, limits, kinematics, tool_speed_cap)
            if slower <= 1.0:
                break
            stretch *= slower * (1.0 + 1e-3)
        else:
            raise ValueError(f"the tool speed stays above the {tool_speed_cap:g} m/s cap after slowing "
                             f"the plan {stretch:.3g}x")
        if set(names) & set(kinematics.joint_names):
            path = ToolPath.sample(start.positions, plan.positions, index, limits, kinematics, config.sample_step,
                                   rates=False)
            path.check_workspace(config, free=int(np.argmax(plan.at_point)) + 1)  # the way back to point 0
    except ValueError as error:  # each check says what it found
        return Rejected(f"smoothed path: {error}")
    points = tuple(TrajectoryPoint(tuple(p.tolist()), float(t), tuple(v.tolist()), tuple(a.tolist()))
                   for p, t, v, a in zip(plan.positions, plan.times, plan.velocities, plan.accelerations))
    note = accepted.note if stretch == 1.0 else f"slowed {stretch:.3g}x more for the tool speed cap"
    return Accepted(Trajectory(names, points), time_scale=accepted.time_scale * stretch, note=note)


def passing_velocities(start: np.ndarray, targets: np.ndarray, times: np.ndarray, top: np.ndarray) -> np.ndarray:
    """The velocity (n, joints) to pass each point with: the harmonic mean of the segments' velocities either
    side where both go the same way (a monotone path stays monotone), else 0; 0 at the last point."""
    segments = np.diff(np.vstack([start, targets]), axis=0) / np.diff(times, prepend=0.0)[:, None]
    before, after = segments[:-1], segments[1:]
    same_way = before * after > 0
    mean = np.divide(2.0 * before * after, before + after, out=np.zeros_like(before), where=same_way)
    return np.vstack([np.clip(mean, -top, top), np.zeros((1, targets.shape[1]))])


def _plan(targets: np.ndarray, times: np.ndarray, start: MotionState, index: list[int],
          limits: JointLimits) -> _Plan:
    """Ruckig, point to point: each segment from the state the last one ended in, at least as long as given."""
    dofs = len(index)
    generator, request, segment = Ruckig(dofs), InputParameter(dofs), RuckigTrajectory(dofs)
    request.max_velocity = np.asarray(limits.max_velocity)[index].tolist()
    request.max_acceleration = np.asarray(limits.max_acceleration)[index].tolist()
    request.max_jerk = np.asarray(limits.max_jerk)[index].tolist()
    state = [start.positions[index], start.velocities[index], start.accelerations[index]]
    velocities = passing_velocities(state[0], targets, times, np.asarray(limits.max_velocity)[index])
    samples: list[tuple[float, list[float], list[float], list[float], bool]] = []
    began = 0.0
    for i, (target, velocity) in enumerate(zip(targets, velocities)):
        target = np.where(np.abs(target - state[0]) < NEGLIGIBLE, state[0], target)  # Ruckig fails on 1e-311
        request.current_position, request.current_velocity, request.current_acceleration = (
            values.tolist() for values in state)
        request.target_position, request.target_acceleration = target.tolist(), [0.0] * dofs
        request.minimum_duration = times[i] - (times[i - 1] if i else 0.0)
        if i == len(targets) - 1:  # coming to rest at the last point: no faster than the way in, braking evenly,
            distance, incoming = target - state[0], state[1]  # taking at most twice the time given (a slow way in
            braking = np.divide(2.0 * distance, incoming, out=np.zeros(dofs), where=distance * incoming > 0)
            longest = 2.0 * request.minimum_duration  # must not make it crawl: no faster than the points' pace then)
            request.minimum_duration = max(request.minimum_duration, min(float(braking.max()), longest))
        for passing in (velocity, np.zeros(dofs)):  # at rest at the point if passing it is infeasible
            request.target_velocity = passing.tolist()
            try:
                result = generator.calculate(request, segment)
            except RuckigError as error:  # Ruckig raises on some inputs it cannot synchronize
                result = str(error).strip()
            if result in (Result.Working, Result.Finished):
                break
        else:
            raise ValueError(f"no jerk-limited motion reaches point {i} ({getattr(result, 'name', result)})")
        for t in _sample_times(segment)[:-1]:
            samples.append((began + t, *segment.at_time(t), False))
        samples.append((began + segment.duration, target.tolist(), passing.tolist(), [0.0] * dofs, True))
        state = [target, passing, np.zeros(dofs)]
        began += segment.duration
    if len(samples) > MAX_SENT:
        between = [k for k, sample in enumerate(samples) if not sample[4]]
        room = max(MAX_SENT - (len(samples) - len(between)), 1)  # what the points leave
        keep = set(between[::math.ceil(len(between) / room)])
        samples = [sample for k, sample in enumerate(samples) if sample[4] or k in keep]
    columns = list(zip(*samples))
    return _Plan(np.array(columns[0]), *(np.array(column, dtype=np.float64) for column in columns[1:4]),
                 at_point=np.array(columns[4]))


def _sample_times(segment: RuckigTrajectory) -> list[float]:
    """Where to sample a planned segment: wherever a joint's jerk changes (so that a quintic through the samples
    is the plan itself) and every ``SAMPLE_PERIOD`` between; no two samples closer than ``MIN_STEP`` (a grid
    time gives way to a switch); the last is its end. Plain floats: a few dozen per segment, planned 20 times
    a second."""
    end = segment.duration
    switches = {end}
    for profile in segment.profiles[0]:
        for offset, phases in ((0.0, profile.brake.t), (profile.brake.duration, profile.t)):
            for t in accumulate(phases, initial=offset):
                if MIN_STEP <= t < end:
                    switches.add(t)
    ordered = sorted(switches)
    grid = (k * SAMPLE_PERIOD for k in range(1, int(end / SAMPLE_PERIOD) + 1))
    near = lambda t: any(abs(t - s) < MIN_STEP for s in ordered[max(bisect(ordered, t) - 1, 0):][:2])  # noqa: E731
    kept: list[float] = []  # from the end: each kept time at least MIN_STEP before the next kept one
    for t in sorted(switches.union(t for t in grid if t < end and not near(t)), reverse=True):
        if not kept or kept[-1] - t >= MIN_STEP:
            kept.append(t)
    return kept[::-1]


def _check_limits(plan: _Plan, start: np.ndarray, names: tuple[str, ...], index: list[int],
                  limits: JointLimits) -> None:
    """Every sample within the position (no further out than the start), velocity and acceleration limits."""
    low = np.minimum(limits.low[index], start) - ROUNDING
    high = np.maximum(limits.high[index], start) + ROUNDING
    for what, values, low_bound, high_bound in (
        ("position", plan.positions, low, high),
        ("velocity", np.abs(plan.velocities), -np.inf, np.asarray(limits.max_velocity)[index] * (1 + TOLERANCE)),
        ("acceleration", np.abs(plan.accelerations), -np.inf,
         np.asarray(limits.max_acceleration)[index] * (1 + TOLERANCE)),
    ):
        outside = np.argwhere((values < low_bound) | (values > high_bound))
        if outside.size:
            k, j = outside[0]
            raise ValueError(f"at {plan.times[k]:.3f} s joint {names[j]} {what} {values[k, j]:.6g} is outside "
                               f"[{np.broadcast_to(low_bound, (len(index),))[j]:.6g}, "
                               f"{np.broadcast_to(high_bound, (len(index),))[j]:.6g}]")


def _configurations(values: np.ndarray, fill: np.ndarray, index: list[int]) -> np.ndarray:
    """(n, every joint): ``fill`` (robot order) with the trajectory's joints set to ``values`` (n, len(index))."""
    full = np.tile(fill, (len(values), 1))
    full[:, index] = values
    return full


def _tool_speed_excess(plan: _Plan, start: MotionState, index: list[int], limits: JointLimits,
                       kinematics: ToolKinematics, cap: float | None) -> float:
    """The largest tool speed at a sample over ``cap`` (0 without a cap or arm joints).

    A plan that starts faster than the cap (manual mode just set, or a stop) may only slow down to it: until
    its speed first comes within the cap, no sample may be faster than the start (else ValueError)."""
    arm = [limits.names.index(name) for name in kinematics.joint_names]
    if cap is None or not set(arm) & set(index):
        return 0.0
    positions = np.vstack([start.positions, _configurations(plan.positions, start.positions, index)])[:, arm]
    still = np.zeros_like(start.velocities)
    velocities = np.vstack([start.velocities, _configurations(plan.velocities, still, index)])[:, arm]
    ahead = kinematics.tool_points(positions + SPEED_STEP * velocities)
    behind = kinematics.tool_points(positions - SPEED_STEP * velocities)
    first, *speeds = np.linalg.norm(ahead - behind, axis=1) / (2.0 * SPEED_STEP)
    speeds = np.array(speeds)
    if first > cap:
        within = int(np.argmax(speeds <= cap)) if np.any(speeds <= cap) else len(speeds)
        if np.any(speeds[:within] > first * (1 + SPEED_TOLERANCE)):
            raise ValueError(f"the tool speeds up beyond {first:.3g} m/s, already above the {cap:g} m/s cap")
        speeds = speeds[within:]
    return float(speeds.max(initial=0.0)) / cap / (1 + SPEED_TOLERANCE)
