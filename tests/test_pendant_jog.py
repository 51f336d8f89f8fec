"""The pendant's jogging, IK, path timing and motion streaming, in plain Python (no ROS, no browser).

Kinematics are the safety FK of the Panda; the supervisor's checks judge what the planner makes.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from robostral.pendant.errors import BadRequest, Unsafe
from robostral.pendant.motion.ik import Unreachable, quaternion, rotation_matrix, rotation_vector
from robostral.pendant.motion.jog import JogCommand, parse_step, step_rows
from robostral.pendant.motion.paths import time_path
from robostral.pendant.motion.planner import Planner
from robostral.pendant.motion.streaming import HEARTBEAT_TIMEOUT, HeldMotion, MotionStreamer
from robostral.pendant.programs.document import Move, Program, ProgramDocument, Waypoint
from robostral.safety import SafetyConfig

HOME = np.array((0.0, -0.3, 0.0, -2.2, 0.0, 1.9, 0.785, 0.04))  # the Panda's home, gripper open
PERIOD = 0.05
# Reaching down through the table: the tool point at z = -0.09 m, below the workspace box.
LOW = (0.0, 1.7, 0.0, -0.3, 0.0, 1.9, 0.785)
# Home with the base and the flange turned: the tool's x axis 69 degrees off the base's, in the xy plane.
TURNED = HOME[:7] + (0.6, 0.0, 0.0, 0.0, 0.0, 0.0, -0.6)


@pytest.fixture(scope="module")
def planner() -> Planner:
    return Planner(SafetyConfig())


def waypoint(planner: Planner, name: str, arm) -> Waypoint:
    return Waypoint(name, dict(zip(planner.limits.arm_names, map(float, arm))))


def test_tool_frame_is_a_rotation_and_the_jacobian_matches_finite_motion(planner):
    position, rotation = planner.frame.pose(HOME[:7])
    assert np.allclose(rotation @ rotation.T, np.eye(3), atol=1e-9) and np.isclose(np.linalg.det(rotation), 1.0)
    assert np.allclose(position, planner.kinematics.tool_points(HOME[:7])[0])
    dq = np.full(7, 1e-4)
    moved, _ = planner.frame.pose(HOME[:7] + dq)
    assert np.allclose(moved - position, planner.frame.jacobian(HOME[:7])[:3] @ dq, atol=1e-7)
    vector = np.array([0.2, -0.4, 1.1])
    assert np.allclose(rotation_vector(rotation_matrix(vector)), vector)
    assert np.isclose(np.linalg.norm(quaternion(rotation)), 1.0)


def test_ik_reaches_a_pose_and_refuses_an_unreachable_one(planner):
    position, rotation = planner.frame.pose(HOME[:7])
    goal = position + [0.05, -0.04, 0.03]
    q = planner.frame.solve(HOME[:7], goal, rotation)
    reached, turned = planner.frame.pose(q)
    assert np.linalg.norm(reached - goal) < 2e-4 and np.abs(turned - rotation).max() < 2e-3
    assert np.all(q >= planner.frame.lower) and np.all(q <= planner.frame.upper)
    with pytest.raises(Unreachable):
        planner.frame.solve(HOME[:7], np.array([2.0, 0.0, 0.5]), rotation)


def test_a_linear_path_keeps_the_tool_on_the_line_and_ends_at_the_waypoint(planner):
    end = HOME[:7] + np.array([0.4, 0.2, 0.0, 0.2, 0.0, -0.1, 0.0])
    rows = planner.frame.line(HOME[:7], end, 0.005)
    points = planner.frame.pose(rows)[0]
    start, stop = planner.frame.pose(HOME[:7])[0], planner.frame.pose(end)[0]
    direction = (stop - start) / np.linalg.norm(stop - start)
    off_line = np.linalg.norm(np.cross(points - start, direction), axis=1)
    assert off_line.max() < 1e-3
    assert np.array_equal(rows[-1], end)
    assert np.linalg.norm(np.diff(points, axis=0), axis=1).max() < 0.0051


@pytest.mark.parametrize("step", [0.1, 1.0, 5.0, 10.0])
def test_a_joint_step_turns_one_joint_by_the_step_in_degrees(planner, step):
    rows = step_rows(JogCommand("joint", 3, -1), step, HOME[:7], planner.frame)
    change = rows[-1] - rows[0]
    assert math.isclose(change[3], -math.radians(step)) and np.count_nonzero(change) == 1


@pytest.mark.parametrize("axis", [0, 1, 2])
@pytest.mark.parametrize("q", [HOME[:7], TURNED], ids=["home", "turned"])
def test_a_cartesian_step_moves_the_tool_by_the_step_in_mm_keeping_its_orientation(planner, axis, q):
    rows = step_rows(JogCommand("cartesian", axis, 1), 5.0, q, planner.frame)
    (p0, r0), (p1, r1) = planner.frame.pose(rows[0]), planner.frame.pose(rows[-1])
    assert np.allclose(p1 - p0, 0.005 * np.eye(3)[axis], atol=2e-4)
    assert np.abs(r1 - r0).max() < 2e-3


def angle(a: np.ndarray, b: np.ndarray) -> float:
    """Degrees between two vectors."""
    return math.degrees(math.acos(np.clip(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)), -1.0, 1.0)))


@pytest.mark.parametrize("direction", [1, -1])
@pytest.mark.parametrize("axis", [0, 1, 2])
def test_a_tool_frame_step_moves_the_tool_along_its_own_axis(planner, axis, direction):
    _, rotation = planner.frame.pose(TURNED)
    tool_axis = direction * rotation[:, axis]
    rows = step_rows(JogCommand("cartesian", axis, direction, "tool"), 5.0, TURNED, planner.frame)
    (p0, r0), (p1, r1) = planner.frame.pose(rows[0]), planner.frame.pose(rows[-1])
    assert math.isclose(np.linalg.norm(p1 - p0), 0.005, abs_tol=2e-4)
    assert angle(p1 - p0, tool_axis) < 2.0 and np.abs(r1 - r0).max() < 2e-3
    base_axis = direction * np.eye(3)[axis]
    if axis < 2:  # the tool's x and y are turned 69 degrees from the base's about z (its z is the base's -z)
        assert angle(p1 - p0, base_axis) > 60.0
    else:
        assert angle(p1 - p0, base_axis) > 178.0


def test_a_held_tool_frame_jog_goes_along_the_tools_x_under_the_tool_speed_cap(planner):
    _, rotation = planner.frame.pose(TURNED)
    streamer = MotionStreamer(PERIOD)
    motion = planner.jog(np.append(TURNED, 0.04), JogCommand("cartesian", 0, 1, "tool"), 1.0)
    streamer.start(motion)
    tool = np.array([planner.frame.pose(streamer.tick(1.0, 0.0).positions[0])[0] for _ in range(30)])
    speed = np.linalg.norm(np.diff(tool, axis=0), axis=1) / PERIOD
    assert speed.max() <= 0.9 * SafetyConfig().manual_tool_speed * 1.001
    moved = tool[-1] - tool[0]
    assert np.linalg.norm(moved) > 0.05 and angle(moved, rotation[:, 0]) < 2.0 and angle(moved, np.eye(3)[0]) > 60.0
    assert np.abs(planner.frame.pose(motion.reference())[1] - rotation).max() < 2e-3


def test_a_joint_at_its_limit_cannot_be_jogged_further(planner):
    at_limit = HOME[:7].copy()
    at_limit[0] = planner.frame.upper[0]
    with pytest.raises(Unreachable, match="at its limit"):
        step_rows(JogCommand("joint", 0, 1), 1.0, at_limit, planner.frame)


@pytest.mark.parametrize("body", [
    {"mode": "joint", "axis": 7, "direction": 1}, {"mode": "joint", "axis": "1", "direction": 1},
    {"mode": "cartesian", "axis": "w", "direction": 1}, {"mode": "spin", "axis": 0, "direction": 1},
    {"mode": "joint", "axis": 0, "direction": 2}, {"mode": "joint", "axis": True, "direction": 1},
    {"mode": "cartesian", "axis": "x", "direction": 1, "frame": "world"},
    {"mode": "cartesian", "axis": "x", "direction": 1, "frame": None},
    {"mode": "cartesian", "axis": "x", "direction": 1, "frame": ["tool"]},
    {"mode": "joint", "axis": 0, "direction": 1, "frame": "tool"},
])
def test_malformed_jog_commands_are_refused(body):
    with pytest.raises(BadRequest):
        JogCommand.parse(body, 7)


def test_a_cartesian_jog_is_in_the_base_frame_unless_told_the_tool():
    base = JogCommand.parse({"mode": "cartesian", "axis": "y", "direction": -1}, 7)
    assert base == JogCommand("cartesian", 1, -1, "base")
    assert JogCommand.parse({"mode": "cartesian", "axis": "y", "direction": -1, "frame": "base"}, 7) == base
    assert JogCommand.parse({"mode": "cartesian", "axis": "y", "direction": -1, "frame": "tool"}, 7).frame == "tool"
    assert JogCommand.parse({"mode": "joint", "axis": 2, "direction": 1}, 7) == JogCommand("joint", 2, 1)


def test_only_the_offered_step_sizes_are_taken():
    assert parse_step(5) == 5.0
    for bad in (2, "1", None, True):
        with pytest.raises(BadRequest):
            parse_step(bad)


def test_a_timed_path_starts_and_ends_at_rest_within_the_joint_limits(planner):
    rows = np.vstack([HOME[:7], HOME[:7] + [0.8, -0.3, 0.2, 0.4, -0.5, 0.3, 1.0]])
    limits = planner.path_limits(planner.limits.arm_names, False)
    for speed in (1.0, 0.2):
        path = time_path(rows, limits, speed, PERIOD, planner.frame)
        velocity = np.diff(path.positions, axis=0) / np.diff(path.times)[:, None]
        assert np.all(np.abs(velocity) <= speed * limits.max_velocity * 1.001)
        assert np.abs(velocity[0]).max() < 0.05 and np.abs(velocity[-1]).max() < 0.05
        assert np.allclose(path.positions[-1], rows[-1]) and np.diff(path.times).max() <= 1.5 * PERIOD


def test_a_manual_mode_path_keeps_the_tool_under_the_cap(planner):
    rows = np.vstack([HOME[:7], HOME[:7] + [1.0, 0.3, 0.0, 0.3, 0.0, 0.0, 0.0]])
    limits = planner.path_limits(planner.limits.arm_names, True)
    path = time_path(rows, limits, 1.0, 0.01, planner.frame)
    points = planner.frame.pose(path.positions)[0]
    speed = np.linalg.norm(np.diff(points, axis=0), axis=1) / np.diff(path.times)
    assert speed.max() <= SafetyConfig().manual_tool_speed


def test_the_pre_check_refuses_a_waypoint_outside_the_workspace_with_the_supervisor_reason(planner):
    with pytest.raises(Unsafe, match="outside the workspace box"):
        planner.check_pose(waypoint(planner, "low", LOW))
    near, low = waypoint(planner, "near", HOME[:7] + 0.1), waypoint(planner, "low", LOW)
    document = ProgramDocument(Program("p", (Move("near", "joint", 0.5), Move("low", "joint", 0.5))),
                               {"near": near, "low": low})
    with pytest.raises(Unsafe, match=r"step 2: move to 'low' refused by the safety checks: .*outside the workspace"):
        planner.check_program(document, HOME, np.zeros(8), 1.0)
    planner.check_pose(waypoint(planner, "near", HOME[:7] + 0.1))


def test_a_waypoint_for_another_robot_is_refused(planner):
    with pytest.raises(Unsafe, match="does not fit"):
        planner.arm_positions(Waypoint("x", {"joint1": 0.0}))


def test_a_held_jog_streams_windows_until_the_heartbeat_stops_then_holds(planner):
    streamer = MotionStreamer(PERIOD)
    held = HeldMotion(planner.jog(HOME, JogCommand("joint", 6, 1), 1.0), HEARTBEAT_TIMEOUT, now=0.0)
    handle = streamer.start(held, owner="page")
    now, chunks = 0.0, []
    for _ in range(20):  # 1 s with heartbeats
        now += PERIOD
        held.heartbeat(now)
        chunks.append(streamer.tick(1.0, now))
    assert all(chunk.positions.shape == (3, 7) for chunk in chunks)
    assert np.allclose(chunks[-1].times, PERIOD * np.arange(1, 4))
    speed = (chunks[-1].positions[0, 6] - chunks[-2].positions[0, 6]) / PERIOD
    assert math.isclose(speed, 0.25 * planner.limits.max_velocity[6])  # full speed: the flange turns
    last_heartbeat = now
    while True:  # the page went quiet
        now += PERIOD
        chunk = streamer.tick(1.0, now)
        if handle.done.is_set():
            break
        assert now - last_heartbeat <= HEARTBEAT_TIMEOUT
    assert now - last_heartbeat <= HEARTBEAT_TIMEOUT + PERIOD
    assert handle.outcome.startswith("no heartbeat") and chunk.positions.shape == (1, 7)
    assert np.allclose(chunk.positions[0], held.reference())  # hold where the target is
    assert streamer.tick(1.0, now + PERIOD) is None


def test_a_cartesian_jog_never_passes_the_manual_mode_tool_speed(planner):
    streamer = MotionStreamer(PERIOD)
    streamer.start(planner.jog(HOME, JogCommand("cartesian", 0, -1), 1.0))
    tool = [planner.frame.pose(streamer.tick(1.0, 0.0).positions[0])[0] for _ in range(30)]
    speed = np.linalg.norm(np.diff(tool, axis=0), axis=1) / PERIOD
    assert speed.max() <= 0.9 * SafetyConfig().manual_tool_speed * 1.001
    assert tool[-1][0] < tool[0][0] - 0.05


def test_the_operator_jogs_at_a_quarter_of_the_engineers_speed(planner):
    speeds = []
    for fraction in (1.0, 0.25):
        streamer = MotionStreamer(PERIOD)
        streamer.start(planner.jog(HOME, JogCommand("joint", 6, 1), fraction))
        positions = [streamer.tick(1.0, 0.0).positions[0, 6] for _ in range(20)]
        speeds.append((positions[-1] - positions[-2]) / PERIOD)
    assert math.isclose(speeds[1], 0.25 * speeds[0], rel_tol=1e-6)


def test_motion_time_runs_at_the_speed_override_and_stops_at_zero(planner):
    target = waypoint(planner, "a", HOME[:7] + 0.2)
    streamer = MotionStreamer(PERIOD)
    motion = planner.move(HOME, np.zeros(8), target, "joint", 1.0, 1.0, False)
    streamer.start(motion)
    assert streamer.tick(0.0, 0.0) is None and motion.clock == 0.0
    streamer.tick(0.5, 0.0)
    assert math.isclose(motion.clock, 0.5 * PERIOD)
    handle = streamer.current
    while not handle.done.is_set():
        streamer.tick(1.0, 0.0)
    assert handle.outcome == "finished" and np.allclose(motion.reference(), HOME[:7] + 0.2)


def test_stopping_a_motion_holds_at_its_reference_and_only_its_owner_may(planner):
    streamer = MotionStreamer(PERIOD)
    motion = planner.move(HOME, np.zeros(8), waypoint(planner, "a", HOME[:7] + 0.2), "joint", 1.0, 1.0, False)
    handle = streamer.start(motion, owner="runner")
    for _ in range(5):
        streamer.tick(1.0, 0.0)
    assert streamer.stop("paused", owner="someone else") is None and not handle.done.is_set()
    hold = streamer.stop("paused", owner="runner")
    assert handle.outcome == "stopped: paused" and np.allclose(hold.positions[0], motion.reference())
