"""Jerk-limited plans through checked trajectories: continuous at every hand-off, within every limit at every sample.

A controller is modelled as the supervisor models it (``CommandedMotion``: quintic splines through
positions, velocities and accelerations); streams of policy-like chunks are replayed into it and
sampled at 1 kHz, a real controller's rate.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from conftest import ROBOT_NAMES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from robostral.safety import (
    Accepted,
    CommandedMotion,
    MotionState,
    Rejected,
    SafetyConfig,
    Trajectory,
    TrajectoryPoint,
    check_trajectory,
    smooth_motion,
)
from robostral.safety.smoothing import MAX_SENT
from robots import Workspace

PERIOD = 0.05  # s: a policy's control period
CHUNK = 10  # points a chunk
RATE = 1000  # Hz: how often a controller samples its trajectory
CONFIG = SafetyConfig()  # the Panda
LIMITS = CONFIG.joint_limits()
KINEMATICS = CONFIG.description.tool_kinematics()


def home_of(config: SafetyConfig) -> np.ndarray:
    return config.description.home_positions


def at_rest(positions: np.ndarray) -> MotionState:
    return MotionState(np.asarray(positions, dtype=float), np.zeros(len(positions)), np.zeros(len(positions)))


def plan(points, start: MotionState, config: SafetyConfig = CONFIG, names=None, **options) -> Accepted | Rejected:
    """``check_trajectory`` then ``smooth_motion``, as the supervisor does."""
    limits, kinematics = config.joint_limits(), config.description.tool_kinematics()
    trajectory = Trajectory(names or limits.names, [TrajectoryPoint(tuple(p), t) for p, t in points])
    checks = dict(limits=limits, kinematics=kinematics, config=config, **options)
    verdict = check_trajectory(trajectory, start.positions, start.velocities, **checks)
    return smooth_motion(verdict, start, **checks) if isinstance(verdict, Accepted) else verdict


def arrays(trajectory: Trajectory) -> tuple[np.ndarray, ...]:
    return tuple(np.array([getattr(p, field) for p in trajectory.points])
                 for field in ("time_from_start", "positions", "velocities", "accelerations"))


def stream(config: SafetyConfig, smooth: bool, steps: int = 60, seed: int = 0) -> MotionState:
    """A policy-like stream: every PERIOD a fresh chunk of CHUNK points (two joints swaying, with noise) from where
    the controller is, replacing the last; the controller's commanded state sampled at RATE."""
    limits, kinematics = config.joint_limits(), config.description.tool_kinematics()
    home = home_of(config)
    rng = np.random.default_rng(seed)
    motion = CommandedMotion(limits.names)
    samples = []
    for step in range(steps):
        now = step * PERIOD
        start = motion.at(now, fallback=home)
        ahead = now + PERIOD * np.arange(1, CHUNK + 1)
        targets = np.tile(home, (CHUNK, 1))
        targets[:, 0] += 0.3 * np.sin(1.5 * ahead)
        targets[:, 1] += 0.1 * np.sin(2.0 * ahead) + 0.003 * rng.standard_normal(CHUNK)
        trajectory = Trajectory(limits.names, [TrajectoryPoint(tuple(q), PERIOD * (k + 1))
                                               for k, q in enumerate(targets)])
        verdict = check_trajectory(trajectory, start.positions, start.velocities, limits=limits,
                                   kinematics=kinematics, config=config)
        if smooth:
            verdict = smooth_motion(verdict, start, limits=limits, kinematics=kinematics, config=config)
        assert isinstance(verdict, Accepted), verdict
        times, positions, velocities, accelerations = arrays(verdict.trajectory)
        if not smooth:
            velocities = accelerations = None  # positions only: what the supervisor used to send
        motion.follow(limits.names, positions, times, now, start=home, velocities=velocities,
                      accelerations=accelerations)
        samples += [motion.at(t) for t in now + np.arange(0, PERIOD * RATE) / RATE]
    steady = samples[RATE // 10:]  # from 0.1 s on: the start from rest is a hand-off like any other
    return MotionState(*(np.array([getattr(s, f.name) for s in steady]) for f in dataclasses.fields(MotionState)))


@pytest.mark.parametrize("robot", ROBOT_NAMES)
def test_streamed_chunks_hand_off_continuously_within_the_acceleration_and_jerk_limits(robot):
    config = SafetyConfig(robot=robot)
    limits = config.joint_limits()
    motion = stream(config, smooth=True)
    # velocity is continuous (each millisecond it changes by at most what the acceleration limit allows), and so
    # is acceleration (at most what the jerk limit allows): at every hand-off, each chunk starting where the last was
    velocity_steps = np.abs(np.diff(motion.velocities, axis=0)).max(axis=0)
    acceleration_steps = np.abs(np.diff(motion.accelerations, axis=0)).max(axis=0)
    assert np.all(velocity_steps <= np.asarray(limits.max_acceleration) / RATE * (1 + 1e-6)), velocity_steps
    assert np.all(acceleration_steps <= np.asarray(limits.max_jerk) / RATE * (1 + 1e-6) + 1e-9), acceleration_steps
    assert np.all(np.abs(motion.velocities).max(axis=0) <= np.asarray(limits.max_velocity) * (1 + 1e-6))
    assert np.all(np.abs(motion.accelerations).max(axis=0) <= np.asarray(limits.max_acceleration) * (1 + 1e-6))
    assert np.ptp(motion.positions[:, 0]) > 0.3  # it went somewhere


def test_positions_only_the_velocity_jumps_at_every_point_the_defect_smoothing_removes():
    motion = stream(CONFIG, smooth=False)
    velocity_steps = np.abs(np.diff(motion.velocities, axis=0)).max(axis=0)
    assert velocity_steps[0] > 10 * LIMITS.max_acceleration[0] / RATE


def test_the_plan_passes_every_point_at_its_position_from_the_commanded_state_and_ends_at_rest():
    home = home_of(CONFIG)
    start = MotionState(home, np.array([0.3, 0, 0, 0, 0, 0, 0, 0]), np.array([1.0, 0, 0, 0, 0, 0, 0, 0]))
    targets = [home + np.eye(8)[0] * 0.02 * k for k in range(1, 6)]
    verdict = plan([(q, PERIOD * k) for k, q in enumerate(targets, 1)], start)
    assert isinstance(verdict, Accepted), verdict
    times, positions, velocities, accelerations = arrays(verdict.trajectory)
    for q in targets:  # each point is one of the samples, at or after its time
        assert np.abs(positions - q).max(axis=1).min() < 1e-9
    assert times[-1] >= PERIOD * len(targets) - 1e-9
    assert np.all(velocities[-1] == 0) and np.all(accelerations[-1] == 0)
    # the first sample continues the commanded motion: a short step from (position, velocity, acceleration)
    dt = times[0]
    expected = start.positions + start.velocities * dt + start.accelerations * dt**2 / 2
    assert np.abs(positions[0] - expected).max() < LIMITS.max_jerk[0] * dt**3


def test_a_slow_way_into_the_last_point_does_not_make_the_plan_crawl():
    """Braking evenly from 0.01 rad/s over 0.02 rad would take 4 s: the last segment takes at most twice its time
    (a supervisor killed mid-stream left a plan creeping on for seconds)."""
    home = home_of(CONFIG)
    start = MotionState(home, np.eye(8)[0] * 0.01, np.zeros(8))
    verdict = plan([(home + np.eye(8)[0] * 0.02, 0.1)], start)
    assert isinstance(verdict, Accepted), verdict
    times, positions, _, _ = arrays(verdict.trajectory)
    assert times[-1] <= 0.2 + 1e-9 and positions[-1, 0] == pytest.approx(home[0] + 0.02)


def test_a_plan_that_would_overshoot_a_joint_limit_is_rejected_with_the_sample_and_joint():
    """Moving fast at a limit, a point just short of it cannot be reached without passing it: braking at the
    acceleration limit takes longer than the room left. The points themselves are all within the limits."""
    home = home_of(CONFIG)
    near = home.copy()
    near[0] = LIMITS.high[0] - 0.05
    start = MotionState(near, np.eye(8)[0] * 2.0, np.zeros(8))
    target = near + np.eye(8)[0] * 0.04
    verdict = plan([(target, 0.2)], start)
    assert isinstance(verdict, Rejected)
    assert "smoothed path: at " in verdict.reason and "panda_joint1 position" in verdict.reason, verdict.reason


def test_a_plan_that_would_leave_the_workspace_between_points_is_rejected():
    """The straight joint path to the point stays in the box; the plan, braking from a fast start, leaves it."""
    home = home_of(CONFIG)
    start = MotionState(home, np.eye(8)[1] * 1.5, np.zeros(8))  # joint 2 reaching forward (+x) fast
    target = home + np.eye(8)[1] * 0.02
    tool = [KINEMATICS.tool_points(q[None, :7])[0] for q in (home, target)]
    box = Workspace(low=(-1.0, -1.0, -0.5), high=(max(tool[0][0], tool[1][0]) + 0.002, 1.0, 1.5))
    config = dataclasses.replace(CONFIG, workspace=box)
    linear = check_trajectory(Trajectory(LIMITS.names, [TrajectoryPoint(tuple(target), 0.3)]), home,
                              start.velocities, limits=LIMITS, kinematics=KINEMATICS, config=config)
    assert isinstance(linear, Accepted)  # the points and the straight path between them are inside
    verdict = plan([(target, 0.3)], start, config)
    assert isinstance(verdict, Rejected) and "workspace box" in verdict.reason, verdict


def test_in_manual_mode_the_plan_is_slowed_to_the_tool_speed_cap_at_every_sample():
    home = home_of(CONFIG)
    targets = [home + np.eye(8)[0] * 0.1 * k for k in range(1, 6)]  # joint 1 swinging the tool sideways
    cap = 0.1  # m/s
    verdict = plan([(q, 0.05 * k) for k, q in enumerate(targets, 1)], at_rest(home), tool_speed_cap=cap)
    assert isinstance(verdict, Accepted), verdict
    _, positions, velocities, _ = arrays(verdict.trajectory)
    step = 1e-5
    ahead = KINEMATICS.tool_points(positions[:, :7] + step * velocities[:, :7])
    behind = KINEMATICS.tool_points(positions[:, :7] - step * velocities[:, :7])
    speeds = np.linalg.norm(ahead - behind, axis=1) / (2 * step)
    assert speeds.max() <= cap * (1 + 1e-3) and speeds.max() > 0.5 * cap


@pytest.mark.parametrize("robot", ROBOT_NAMES)
def test_a_gripper_only_command_is_planned_within_the_grippers_limits(robot):
    config = SafetyConfig(robot=robot)
    limits = config.joint_limits()
    home = home_of(config)
    gripper = limits.gripper_name
    low = limits.low[-1]
    verdict = plan([((low,), 0.5)], at_rest(home), config, names=(gripper,))
    assert isinstance(verdict, Accepted), verdict
    _, positions, velocities, accelerations = arrays(verdict.trajectory)
    assert positions[-1, 0] == pytest.approx(low)
    assert np.abs(velocities).max() <= limits.max_velocity[-1] * (1 + 1e-6)
    assert np.abs(accelerations).max() <= limits.max_acceleration[-1] * (1 + 1e-6)


def test_a_long_plan_sends_every_point_and_at_most_max_sent_samples():
    home = home_of(CONFIG)
    times = PERIOD * np.arange(1, 201)  # 10 s of every joint swaying
    targets = home + 0.2 * np.sin(np.outer(times, np.linspace(1.0, 2.0, 8)))
    targets[:, -1] = home[-1]
    verdict = plan(list(zip(targets, times)), at_rest(home))
    assert isinstance(verdict, Accepted), verdict
    _, positions, _, _ = arrays(verdict.trajectory)
    assert len(positions) <= MAX_SENT
    for q in targets:
        assert np.abs(positions - q).max(axis=1).min() < 1e-9


finite = st.floats(-1.0, 1.0)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    offsets=st.lists(st.lists(finite, min_size=8, max_size=8), min_size=1, max_size=12),
    spacing=st.floats(0.01, 0.5),
    velocity=st.lists(st.floats(-2.0, 2.0), min_size=8, max_size=8),
    acceleration=st.lists(st.floats(-10.0, 10.0), min_size=8, max_size=8),
)
def test_whatever_the_chunk_and_start_an_accepted_plan_keeps_every_limit_at_every_sample(
        offsets, spacing, velocity, acceleration):
    home = home_of(CONFIG)
    top, fastest = np.asarray(LIMITS.max_velocity), np.asarray(LIMITS.max_acceleration)
    start = MotionState(home, np.clip(velocity, -top, top), np.clip(acceleration, -fastest, fastest))
    points = [(np.clip(home + 0.3 * np.array(o), LIMITS.low, LIMITS.high), spacing * k)
              for k, o in enumerate(offsets, 1)]
    verdict = plan(points, start)
    if isinstance(verdict, Rejected):
        return
    times, positions, velocities, accelerations = arrays(verdict.trajectory)
    assert np.all(np.diff(times) > 0) and times[0] > 0
    assert np.all((positions >= LIMITS.low - 1e-6) & (positions <= LIMITS.high + 1e-6))
    assert np.all(np.abs(velocities) <= top * (1 + 1e-6))
    assert np.all(np.abs(accelerations) <= fastest * (1 + 1e-6))
    assert CONFIG.workspace.contains(KINEMATICS.tool_points(positions[:, :7])).all()
