"""A controlled stop: decelerate every joint to standstill within its acceleration limit, then hold.

Each joint brakes at a constant deceleration. All stop together at time ``T``, the longest of
their stops at ``SafetyConfig.stop_deceleration`` times their limits (at least one ``stop_step``):
the arm brakes along the direction it was moving in (joint space) instead of each joint stopping
on its own. A joint that would pass its URDF limit by then stops sooner, braking harder (up to
its full deceleration): the position margin is braking room. One that cannot stop before its
limit even at full deceleration is commanded to the limit. The arm ends at rest at the last
point, where the controller holds it. Velocities beyond a joint's limit are taken at the limit, so the
stop's length and number of points are bounded by the limits alone, whatever it is given.

The points carry their velocities and accelerations, and a pair where a joint comes to rest:
a controller interpolating them with quintic splines follows the braking exactly from the first point
on. A stop is the one motion not held to the jerk limits: the deceleration starts at once (stopping
distance first).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from robostral.safety.limits import JointLimits, SafetyConfig
from robostral.safety.trajectory import Trajectory, TrajectoryPoint

STANDSTILL = 1e-6  # rad/s (or m/s): slower joints are at rest
REST_STEP = 1e-5  # s from a joint's last braking point to its first at rest (the step in its acceleration)


def controlled_stop(
    positions: Sequence[float],
    velocities: Sequence[float],
    limits: JointLimits,
    config: SafetyConfig,
    joints: Sequence[str] | None = None,
) -> Trajectory:
    """A trajectory from the current state (robot joint order) to standstill, for ``joints`` (default: all).

    Points are ``config.stop_step`` seconds apart, the last one at the moment every joint is at rest.
    """
    joints = limits.names if joints is None else tuple(joints)
    unknown = sorted(set(joints) - set(limits.names))
    if unknown:
        raise ValueError(f"controlled_stop: unknown joint(s) {', '.join(unknown)}")
    index = [limits.names.index(name) for name in joints]
    q = np.asarray(positions, dtype=np.float64)[index]
    v = np.asarray(velocities, dtype=np.float64)[index]
    if not (np.all(np.isfinite(q)) and np.all(np.isfinite(v))):
        raise ValueError(f"controlled_stop: the joint state must be finite, got {q.tolist()}, {v.tolist()}")
    lower = np.asarray(limits.lower)[index]
    upper = np.asarray(limits.upper)[index]
    full = np.asarray(limits.max_acceleration)[index]
    top = np.asarray(limits.max_velocity)[index]
    v = np.clip(v, -top, top)  # no joint moves faster than its limit: the stop's length is bounded by the limits
    speed = np.abs(v)
    moving = speed > STANDSTILL
    if moving.any():
        room = np.maximum(np.where(v > 0, upper - q, q - lower), 0.0)
        full_stop = speed / full  # each joint at its full deceleration
        together = max(np.max(full_stop) / config.stop_deceleration, config.stop_step)
        before_limit = np.divide(2.0 * room, speed, out=np.full(len(q), np.inf), where=moving)  # |v| T / 2 <= room
        durations = np.maximum(full_stop, np.minimum(together, before_limit))
        steps = int(np.ceil(durations.max() / config.stop_step - 0.5))  # the last step: 0.5 to 1.5 stop_step
        grid = np.append(np.arange(1, steps) * config.stop_step, durations.max())
        # and each joint's moment of rest, braking into it, then at rest REST_STEP later
        resting = durations[durations < durations.max()]
        times = np.unique(np.concatenate([grid, durations, resting + REST_STEP]))
        t = np.minimum(times[:, None], durations)
        deceleration = v / durations
        path = q + v * t - deceleration * t**2 / 2.0
        velocity = v - deceleration * t
        acceleration = np.where(times[:, None] <= durations, -deceleration, 0.0)
    else:
        times, path = np.array([config.stop_step]), q[None]
        velocity = acceleration = np.zeros_like(path)
    path = np.clip(path, lower, upper)
    return Trajectory(joints, tuple(
        TrajectoryPoint(tuple(row.tolist()), float(t), tuple(rate.tolist()), tuple(change.tolist()))
        for row, t, rate, change in zip(path, times, velocity, acceleration)))
