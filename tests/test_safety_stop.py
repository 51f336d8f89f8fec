"""Controlled stops: brake every joint within its acceleration limit, stay within the position limits, end at rest."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from conftest import ROBOT_NAMES
from hypothesis import given, settings
from hypothesis import strategies as st

from robostral.safety import CommandedMotion, SafetyConfig, TrajectoryPoint, controlled_stop

CONFIG = SafetyConfig()
LIMITS = CONFIG.joint_limits()
HOME = np.array([0.0, -0.3, 0.0, -2.2, 0.0, 1.9, 0.785, 0.04])


def rates(stop, positions, velocities, limits):
    """Segment velocities and the accelerations between them (the first from the current velocity, the last
    into standstill after the final point), as the trajectory checks model the motion."""
    index = [limits.names.index(name) for name in stop.joint_names]
    q = np.array([p.positions for p in stop.points])
    ends = np.concatenate([[0.0], [p.time_from_start for p in stop.points]])
    velocity = np.diff(np.vstack([np.asarray(positions)[index], q]), axis=0) / np.diff(ends)[:, None]
    middles = np.concatenate([[0.0], (ends[:-1] + ends[1:]) / 2, ends[-1:]])
    changes = np.diff(np.vstack([np.asarray(velocities)[index], velocity, np.zeros(len(index))]), axis=0)
    return velocity, changes / np.diff(middles)[:, None]


def test_at_rest_the_stop_holds_where_the_arm_is():
    stop = controlled_stop(HOME, np.zeros(8), LIMITS, CONFIG)
    assert stop.joint_names == LIMITS.names
    assert stop.points == (TrajectoryPoint(tuple(HOME), CONFIG.stop_step, (0.0,) * 8, (0.0,) * 8),)


def test_all_joints_brake_together_along_their_motion():
    velocities = np.zeros(8)
    velocities[[0, 1]] = [1.5, -0.75]  # joint 2 brakes at half the rate of joint 1: both stop after 0.1 s
    stop = controlled_stop(HOME, velocities, LIMITS, CONFIG)
    times = [p.time_from_start for p in stop.points]
    np.testing.assert_allclose(times, [0.02, 0.04, 0.06, 0.08, 0.1])
    np.testing.assert_allclose(stop.points[-1].positions, HOME + velocities * 0.1 / 2)
    velocity, acceleration = rates(stop, HOME, velocities, LIMITS)
    np.testing.assert_allclose(acceleration[:, :2], [[-15.0, 7.5]] * 6, rtol=1e-9)
    assert np.all(acceleration[:, 2:] == 0)


def test_a_gentler_stop_still_stops_before_the_limit():
    config = dataclasses.replace(CONFIG, stop_deceleration=0.25)
    positions, velocities = HOME.copy(), np.zeros(8)
    positions[0], velocities[0] = LIMITS.upper[0] - 0.1, 1.5  # 0.075 m to stop at 15 rad/s^2, 0.3 at a quarter
    stop = controlled_stop(positions, velocities, LIMITS, config, joints=LIMITS.arm_names)
    assert stop.joint_names == LIMITS.arm_names
    assert stop.points[-1].positions[0] == pytest.approx(LIMITS.upper[0])  # braked just hard enough
    _, acceleration = rates(stop, positions, velocities, LIMITS)
    assert np.max(np.abs(acceleration[:, 0])) == pytest.approx(1.5**2 / 0.2)  # 11.25 rad/s^2, under 15


def test_a_joint_that_cannot_stop_in_time_is_held_at_its_limit():
    positions, velocities = HOME.copy(), np.zeros(8)
    positions[-1], velocities[-1] = 0.039, 0.2  # the finger: 1 mm left, 20 mm needed
    stop = controlled_stop(positions, velocities, LIMITS, CONFIG, joints=(LIMITS.gripper_name,))
    finger = [p.positions[0] for p in stop.points]
    assert max(finger) == finger[-1] == LIMITS.upper[-1]


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match=r"unknown joint\(s\) elbow"):
        controlled_stop(HOME, np.zeros(8), LIMITS, CONFIG, joints=("elbow",))
    with pytest.raises(ValueError, match="the joint state must be finite"):
        controlled_stop(HOME, [math.nan] * 8, LIMITS, CONFIG)


@pytest.fixture(scope="module", params=ROBOT_NAMES)
def limits(request):
    return SafetyConfig(robot=request.param).joint_limits()


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_every_stop_brakes_within_the_limits_to_standstill(limits, data):
    n = len(limits.names)
    lower, upper = np.asarray(limits.lower), np.asarray(limits.upper)
    max_acceleration = np.asarray(limits.max_acceleration)
    positions = lower + np.array(data.draw(st.lists(st.floats(0, 1), min_size=n, max_size=n))) * (upper - lower)
    scale = data.draw(st.sampled_from([0.0, 1e-7, 0.1, 1.0]))
    velocities = np.array(data.draw(st.lists(st.floats(-1, 1), min_size=n, max_size=n)))
    velocities *= scale * np.asarray(limits.max_velocity)
    config = dataclasses.replace(
        SafetyConfig(),
        stop_deceleration=data.draw(st.floats(0.05, 1.0)),
        stop_step=data.draw(st.sampled_from([0.004, 0.02, 0.1])),
    )
    joints = data.draw(st.sampled_from(limits.groups))
    stop = controlled_stop(positions, velocities, limits, config, joints)

    index = [limits.names.index(name) for name in joints]
    assert stop.joint_names == joints
    q = np.array([p.positions for p in stop.points])
    times = np.array([p.time_from_start for p in stop.points])
    assert times[0] > 0 and np.all(np.diff(times) > 0)
    assert np.all(q >= lower[index]) and np.all(q <= upper[index])
    # each joint moves only the way it was going, never back
    travel = np.diff(np.vstack([positions[index], q]), axis=0) * np.sign(velocities[index])
    assert np.all(travel >= -1e-12)
    room = np.where(velocities > 0, upper - positions, positions - lower)[index]
    if np.all(velocities[index] ** 2 / (2 * max_acceleration[index]) <= room * (1 - 1e-6)):
        _, acceleration = rates(stop, positions, velocities, limits)
        assert np.all(np.abs(acceleration) <= max_acceleration[index] * (1 + 1e-6) + 1e-6)


def test_the_stops_points_carry_the_braking_a_quintic_follows_exactly():
    """Velocities and accelerations at every point, and a point where each joint comes to rest."""
    velocities = np.zeros(8)
    velocities[[0, 3]] = [1.0, -0.5]
    stop = controlled_stop(HOME, velocities, LIMITS, CONFIG)
    times = np.array([p.time_from_start for p in stop.points])
    q = np.array([p.positions for p in stop.points])
    v = np.array([p.velocities for p in stop.points])
    a = np.array([p.accelerations for p in stop.points])
    assert np.all(np.diff(times) > 0)
    motion = CommandedMotion(LIMITS.names)
    moving = np.asarray(HOME) + velocities
    motion.follow(LIMITS.names, moving[None], [2.0], -1.0, start=HOME - velocities)  # at HOME at 0 s, moving
    motion.follow(LIMITS.names, q, times, 0.0, start=HOME, velocities=v, accelerations=a)
    for t in np.linspace(times[0], times[-1], 97):  # from the first point on, the spline is the braking itself
        state = motion.at(t)
        for joint in (0, 3):
            duration = np.abs(velocities[joint]) / np.abs(a[0, joint])
            along = min(t, duration)
            expected = HOME[joint] + velocities[joint] * along - velocities[joint] / duration * along**2 / 2
            assert state.positions[joint] == pytest.approx(expected, abs=1e-9)
            assert state.velocities[joint] == pytest.approx(velocities[joint] * max(1 - t / duration, 0), abs=1e-6)
    assert np.all(v[-1] == 0)
