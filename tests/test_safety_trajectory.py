"""Trajectory checks: every rejection names its cause; nothing accepted breaks a limit, whatever the input."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from conftest import ROBOT_NAMES
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from robostral.safety import (
    Accepted,
    Paused,
    Rejected,
    SafetyConfig,
    Trajectory,
    TrajectoryPoint,
    check_trajectory,
)
from robots import Workspace

CONFIG = SafetyConfig()  # the Panda
LIMITS = CONFIG.joint_limits()
KINEMATICS = CONFIG.description.tool_kinematics()
HOME = np.array([0.0, -0.3, 0.0, -2.2, 0.0, 1.9, 0.785, 0.04])  # tool point (0.463, 0, 0.401) m
AT_REST = np.zeros(8)


def check(trajectory, positions=HOME, velocities=AT_REST, config=CONFIG, **options):
    return check_trajectory(
        trajectory, positions, velocities, limits=LIMITS, kinematics=KINEMATICS, config=config, **options
    )


def joint1_path(angles, step=0.5, names=LIMITS.names, start=HOME):
    """Points turning joint 1 (about the vertical: the tool keeps its height) to ``angles``, ``step`` s apart."""
    points = []
    for k, angle in enumerate(angles, start=1):
        q = start.copy()
        q[0] = angle
        points.append(TrajectoryPoint(tuple(q[[LIMITS.names.index(n) for n in names]]), k * step))
    return Trajectory(tuple(names), tuple(points))


def arrays(trajectory):
    q = np.array([p.positions for p in trajectory.points], dtype=float)
    return q, np.array([p.time_from_start for p in trajectory.points], dtype=float)


# -- rejections, one by one --------------------------------------------------------------------

SLOW = joint1_path([0.1, 0.2])
ARM = LIMITS.names[:-1]
BELOW_TABLE = HOME.copy()
BELOW_TABLE[[1, 3]] = [1.2, -1.5]  # leaning forward, elbow bent: the tool point 0.15 m under the table top


def replace(point: int, joint: int, value):
    points = [list(p.positions) for p in SLOW.points]
    points[point][joint] = value
    return Trajectory(
        SLOW.joint_names, tuple(TrajectoryPoint(q, p.time_from_start) for q, p in zip(points, SLOW.points))
    )


def retime(*times):
    return Trajectory(SLOW.joint_names, tuple(TrajectoryPoint(p.positions, t) for p, t in zip(SLOW.points, times)))


@pytest.mark.parametrize(
    ("trajectory", "options", "message"),
    [
        (
            Trajectory((*ARM, "finger"), SLOW.points),
            {},
            r"unknown joint\(s\) 'finger'; this robot's joints: panda_joint1",
        ),
        (Trajectory((*ARM[:-1], "panda_joint1", LIMITS.gripper_name), SLOW.points), {}, "panda_joint1 appear more"),
        (joint1_path([0.1], names=ARM[:5]), {}, r"missing joint\(s\) panda_joint6, panda_joint7: a trajectory carries"),
        (joint1_path([0.1], names=(*ARM[:6], LIMITS.gripper_name)), {}, r"missing joint\(s\) panda_joint7:"),
        (Trajectory((), ()), {}, "trajectory names no joints"),
        (Trajectory(LIMITS.names, ()), {}, "trajectory has no points"),
        (Trajectory(LIMITS.names, (TrajectoryPoint(HOME[:7], 0.5),)), {}, "point 0 has 7 positions for 8 joints"),
        (replace(1, 3, math.nan), {}, "point 1: joint panda_joint4 position is nan"),
        (replace(0, 7, -math.inf), {}, "point 0: joint panda_finger_joint1 position is -inf"),
        (replace(0, 2, "up"), {}, "point 0: positions and time_from_start must be numbers"),
        (replace(1, 0, 1e308), {}, r"point 1: joint panda_joint1 position 1e\+308 is outside \[-2.9171, 2.9171\]"),
        (
            replace(0, 3, -0.01),
            {},
            r"panda_joint4 position -0.01 is outside \[-3.0916, -0.05\] \(its limits \[-3.1416, 0\]",
        ),
        (retime(0.0, 0.5), {}, r"point 0: time_from_start 0 s must be finite and after the start \(0 s\)"),
        (retime(0.5, 0.5), {}, r"point 1: time_from_start 0.5 s must be finite and after point 0 \(0.5 s\)"),
        (retime(0.5, math.nan), {}, "point 1: time_from_start nan s must be finite"),
        (SLOW, {"speed_override": 1.5}, r"speed override 1.5 is not a number in \[0, 1\]"),
        (SLOW, {"speed_override": math.nan}, r"speed override nan is not a number in \[0, 1\]"),
        (SLOW, {"tool_speed_cap": 0.0}, r"tool speed cap 0.0 is not a number > 0 \(m/s\)"),
        (SLOW, {"speed_override": 1e-320}, "speed override 1e-320 slows the trajectory past any finite time"),
        (
            SLOW,
            {"positions": HOME[:7]},
            r"current joint state must be 8 finite positions and velocities \(panda_joint1",
        ),
        (SLOW, {"velocities": [math.nan] * 8}, "current joint state must be 8 finite positions and velocities"),
        (
            joint1_path([0.1], start=BELOW_TABLE),
            {"positions": BELOW_TABLE},
            r"point 0: tool point \(.*\) m is outside the workspace box",
        ),
    ],
)
def test_each_rejection_names_its_cause(trajectory, options, message):
    result = check(trajectory, **options)
    assert isinstance(result, Rejected)
    assert re.search(message, result.reason), result.reason


def test_the_tool_point_is_checked_between_points():
    # joint 1 from -0.8 to 0.8: the ends are at x = 0.32 m, the middle of the arc at x = 0.46 m
    config = SafetyConfig(workspace=Workspace(high=(0.4, 0.85, 1.2)))
    start = HOME.copy()
    start[0] = -0.8
    result = check(joint1_path([0.8], step=2.0), positions=start, config=config)
    assert isinstance(result, Rejected)
    assert result.reason.startswith("between the current position and point 0: the tool point passes (0.4")
    assert "outside the workspace box [-0.85, 0.4] x [-0.85, 0.85] x [0.005, 1.2] m" in result.reason


def test_an_arm_outside_the_box_may_come_back_to_it():
    config = SafetyConfig(workspace=Workspace(high=(0.4, 0.85, 1.2)))  # HOME's tool point is outside
    assert isinstance(check(joint1_path([0.8], step=2.0), config=config), Accepted)
    rejected = check(joint1_path([0.8, 0.1], step=2.0), config=config)
    assert isinstance(rejected, Rejected)
    assert rejected.reason.startswith("between point 0 and point 1: the tool point passes (0.40")


# -- what is accepted --------------------------------------------------------------------------


def test_accepted_in_robot_order_with_the_override_scaling_time():
    names = LIMITS.names[::-1]
    shuffled = joint1_path([0.1, 0.2], names=names)
    result = check(shuffled, speed_override=0.5)
    assert isinstance(result, Accepted)
    assert result.trajectory.joint_names == LIMITS.names
    q, t = arrays(result.trajectory)
    np.testing.assert_array_equal(q, arrays(SLOW)[0])
    np.testing.assert_allclose(t, [1.0, 2.0])
    assert (result.time_scale, result.note) == (2.0, "")


def test_gripper_alone_and_arm_alone_are_each_a_command():
    gripper = Trajectory((LIMITS.gripper_name,), (TrajectoryPoint((0.02,), 0.5), TrajectoryPoint((0.0,), 1.0)))
    result = check(gripper, positions=BELOW_TABLE)  # the gripper does not move the tool point
    assert isinstance(result, Accepted) and result.trajectory == gripper
    arm = joint1_path([0.1], names=ARM)
    assert check(arm).trajectory == arm


def test_a_zero_override_pauses_valid_trajectories_only():
    assert check(SLOW, speed_override=0.0) == Paused(LIMITS.names)
    assert isinstance(check(replace(0, 0, math.nan), speed_override=0.0), Rejected)


@pytest.mark.parametrize(
    ("angles", "step", "velocity", "note"),
    [
        ([0.3, 0.6, 0.9, 1.2], 0.1, 2.0, "for the panda_joint1 velocity limit"),  # 3 rad/s, already moving
        ([0.3], 0.1, 0.0, "for the panda_joint1 acceleration limit from its current velocity"),  # from rest
        ([0.001, 0.201], 0.1, 0.0, "for the panda_joint1 acceleration limit"),  # 0.01 to 2 rad/s in 0.1 s
    ],
)
def test_too_fast_is_slowed_down_not_rejected(angles, step, velocity, note):
    velocities = AT_REST.copy()
    velocities[0] = velocity
    result = check(joint1_path(angles, step=step), velocities=velocities)
    assert isinstance(result, Accepted), result
    assert result.note.startswith("slowed ") and result.note.endswith(note) and result.time_scale > 1
    assert_within_limits(result, HOME, velocities, LIMITS, KINEMATICS, CONFIG, None)


def test_manual_mode_caps_the_tool_speed():
    result = check(joint1_path([0.5, 1.0]), tool_speed_cap=CONFIG.manual_tool_speed)  # 0.46 m/s asked
    assert result.note.endswith(f"for the tool speed cap ({CONFIG.manual_tool_speed:g} m/s)")
    assert_within_limits(result, HOME, AT_REST, LIMITS, KINEMATICS, CONFIG, CONFIG.manual_tool_speed)
    assert check(joint1_path([0.5, 1.0]), speed_override=0.5).note == ""  # 0.23 m/s: no cap in auto mode


# -- properties --------------------------------------------------------------------------------


def assert_within_limits(result, start, start_velocity, limits, kinematics, config, tool_speed_cap):
    """An accepted trajectory keeps every limit, recomputed here from its points (the motion model of the module)."""
    names = result.trajectory.joint_names
    assert names == tuple(name for name in limits.names if name in names)
    index = [limits.names.index(name) for name in names]
    q, t = arrays(result.trajectory)
    assert np.all(np.isfinite(q)) and np.all(np.isfinite(t)) and t[0] > 0 and np.all(np.diff(t) > 0)
    assert np.all(q >= limits.low[index]) and np.all(q <= limits.high[index])
    # segment velocities, reached at the segments' middles; the current velocity at time 0
    path = np.vstack([start[index], q])
    ends = np.concatenate([[0.0], t])
    velocity = np.diff(path, axis=0) / np.diff(ends)[:, None]
    middles = np.concatenate([[0.0], (ends[:-1] + ends[1:]) / 2])
    acceleration = np.diff(np.vstack([start_velocity[index], velocity]), axis=0) / np.diff(middles)[:, None]
    assert np.all(np.abs(velocity) <= np.asarray(limits.max_velocity)[index] * (1 + 1e-9))
    assert np.all(np.abs(acceleration) <= np.asarray(limits.max_acceleration)[index] * (1 + 1e-9))
    if not set(names) & set(kinematics.joint_names):
        return
    # the tool point, finely sampled (4 per check step): in the box at the points, within 1 mm between them
    arm = [limits.names.index(name) for name in kinematics.joint_names]
    full = np.tile(start, (len(path), 1))
    full[1:, index] = q
    box = config.workspace
    starts_inside = box.contains(kinematics.tool_points(full[0, arm]))[0]
    assert np.all(box.contains(kinematics.tool_points(full[1:, arm])))
    for k in range(len(q)):
        count = 1 + 4 * int(np.ceil(np.max(np.abs(full[k + 1, arm] - full[k, arm])) / config.sample_step))
        fractions = np.linspace(0.0, 1.0, count + 1)
        points = kinematics.tool_points(full[k, arm] + fractions[:, None] * (full[k + 1, arm] - full[k, arm]))
        if k > 0 or starts_inside:
            assert np.all(box.contains(points[1:] + 1e-3) | box.contains(points[1:] - 1e-3))
            assert np.all(np.max(np.maximum(box.low - points[1:], points[1:] - box.high), axis=1) <= 1e-3)
        if tool_speed_cap is not None:
            speed = np.linalg.norm(np.diff(points, axis=0), axis=1) / ((ends[k + 1] - ends[k]) / count)
            assert np.all(speed <= tool_speed_cap * 1.01)


@pytest.fixture(scope="module", params=ROBOT_NAMES)
def robot(request):
    config = SafetyConfig(robot=request.param)
    return config, config.joint_limits(), config.description.tool_kinematics()


CORRUPTIONS = ("none", "none", "none", "shuffle", "nan", "inf", "huge", "rename", "drop", "repeat", "time", "length")
# Mostly plausible values (so that many trajectories are accepted and checked), garbage too.
OVERRIDES = st.one_of(st.floats(0.05, 1.0), st.just(1.0), st.sampled_from([0.0, 1e-300, math.nan, -0.5, 1.5, math.inf]))
CAPS = st.one_of(st.none(), st.none(), st.floats(0.05, 1.0), st.sampled_from([0.0, -1.0, math.nan]))


def draw_trajectory(data, limits, start):
    """A plausible trajectory from ``start`` (random joint group, steps, times), then maybe one corruption."""
    names = list(data.draw(st.sampled_from(limits.groups)))
    index = [limits.names.index(name) for name in names]
    span = (limits.high - limits.low)[index]
    count = data.draw(st.integers(1, 5))
    steps = np.array(
        data.draw(st.lists(st.floats(-0.05, 0.05), min_size=count * len(names), max_size=count * len(names)))
    )
    positions = start[index] + np.cumsum(steps.reshape(count, len(names)) * span, axis=0)
    times = list(np.cumsum(data.draw(st.lists(st.floats(1e-3, 0.5), min_size=count, max_size=count))))
    rows = [list(row) for row in positions]
    corruption = data.draw(st.sampled_from(CORRUPTIONS))
    point, joint = data.draw(st.integers(0, count - 1)), data.draw(st.integers(0, len(names) - 1))
    if corruption == "shuffle":
        order = data.draw(st.permutations(range(len(names))))
        names, rows = [names[i] for i in order], [[row[i] for i in order] for row in rows]
    elif corruption in ("nan", "inf", "huge"):
        rows[point][joint] = {"nan": math.nan, "inf": -math.inf, "huge": 1e308}[corruption]
    elif corruption == "rename":
        names[joint] = data.draw(st.text(max_size=12))
    elif corruption == "drop" and len(names) > 1:
        names, rows = names[1:], [row[1:] for row in rows]
    elif corruption == "repeat" and len(names) > 1:
        names[joint] = names[joint - 1]
    elif corruption == "time":
        times[point] = data.draw(st.sampled_from([0.0, -1.0, math.nan, math.inf, times[point - 1] if point else 0.0]))
    elif corruption == "length":
        rows[point] = rows[point][:-1]
    return Trajectory(tuple(names), tuple(TrajectoryPoint(tuple(row), t) for row, t in zip(rows, times)))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_no_sequence_of_inputs_yields_a_command_outside_the_limits(robot, data):
    config, limits, kinematics = robot
    start = limits.low + np.array(
        data.draw(st.lists(st.floats(0, 1), min_size=len(limits.names), max_size=len(limits.names)))
    ) * (limits.high - limits.low)
    speed = data.draw(st.sampled_from([0.0, 0.3, 1.0]))
    velocity = (
        np.array(data.draw(st.lists(st.floats(-1, 1), min_size=len(limits.names), max_size=len(limits.names))))
        * speed
        * np.asarray(limits.max_velocity)
    )
    for _ in range(data.draw(st.integers(1, 3))):
        trajectory = draw_trajectory(data, limits, start)
        override, cap = data.draw(OVERRIDES), data.draw(CAPS)
        result = check_trajectory(
            trajectory,
            start,
            velocity,
            limits=limits,
            kinematics=kinematics,
            config=config,
            speed_override=override,
            tool_speed_cap=cap,
        )
        event(type(result).__name__)
        if isinstance(result, Rejected):
            assert result.reason
            continue
        if isinstance(result, Paused):
            assert override == 0.0 and set(result.joint_names) == set(trajectory.joint_names)
            continue
        assert 0 < override <= 1 and (cap is None or cap > 0)
        assert_within_limits(result, start, velocity, limits, kinematics, config, cap)
        # the arm ends where the trajectory does, moving as its last segment did
        q, t = arrays(result.trajectory)
        index = [limits.names.index(name) for name in result.trajectory.joint_names]
        before = q[-2] if len(q) > 1 else start[index]
        velocity = velocity.copy()
        velocity[index] = (q[-1] - before) / (t[-1] - (t[-2] if len(t) > 1 else 0.0))
        start = start.copy()
        start[index] = q[-1]


def test_a_measured_pose_a_hair_past_a_limit_is_taken_as_on_it():
    """A joint state read back from the arm (Panda finger 0.04 + 1e-8 m when open) re-sent as a target."""
    measured = HOME.copy()
    measured[-1] += 1e-8
    check = lambda q: check_trajectory(  # noqa: E731
        Trajectory(LIMITS.names, [TrajectoryPoint(tuple(q), 0.5)]), HOME, AT_REST,
        limits=LIMITS, kinematics=KINEMATICS, config=CONFIG,
    )
    verdict = check(measured)
    assert isinstance(verdict, Accepted), verdict
    assert verdict.trajectory.points[0].positions[-1] == 0.04
    measured[-1] += 1e-4  # but a real overshoot is refused
    assert "panda_finger_joint1" in check(measured).reason
