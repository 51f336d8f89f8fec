"""What the supervisor believes: joint states checked against limits, stamps, continuity and its own commands;
what it commands: the motion model its stops are planned from; and the bounded work of a stop and a check."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from robostral.safety import (
    MAX_POINTS,
    CommandedMotion,
    JointStateMonitor,
    Rejected,
    SafetyConfig,
    Trajectory,
    TrajectoryPoint,
    check_trajectory,
    controlled_stop,
)

CONFIG = SafetyConfig()
LIMITS = CONFIG.joint_limits()
HOME = np.array([0.0, -0.3, 0.0, -2.2, 0.0, 1.9, 0.785, 0.04])
REST = np.zeros(8)
T0 = 1000.0  # s, a clock reading


def monitor_at_home() -> JointStateMonitor:
    monitor = JointStateMonitor(LIMITS, CONFIG)
    assert monitor.check(HOME, REST, T0, T0).believed
    return monitor


def moved(joint: int, by: float) -> np.ndarray:
    return HOME + by * np.eye(8)[joint]


def test_a_state_moving_as_the_arm_can_is_believed():
    monitor = monitor_at_home()
    for step in range(1, 20):  # joint 1 at 1 rad/s, 20 Hz
        assert monitor.check(moved(0, 0.05 * step), REST + np.eye(8)[0], T0 + 0.05 * step, T0 + 0.05 * step).believed


@pytest.mark.parametrize("positions, velocities, stamp, reason", [
    (moved(0, 5.0), REST, T0 + 0.05, "panda_joint1 at 5 is outside its limits"),
    (HOME, REST + 1e300 * np.eye(8)[1], T0 + 0.05, "panda_joint2 velocity 1e+300 is beyond 3x its limit"),
    (moved(3, 0.4), REST, T0 + 0.05, "panda_joint4 moved 0.4 in 0.050 s"),
    (HOME, REST, T0 + 1.0, "stamped 0.950 s in the future"),
    (HOME, REST, T0 - 0.01, "stamped 0.010 s before the previous one"),
], ids=["beyond a limit", "absurd velocity", "a jump", "from the future", "backwards in time"])
def test_an_implausible_state_is_a_fault_with_its_reason(positions, velocities, stamp, reason):
    monitor = monitor_at_home()
    verdict = monitor.check(positions, velocities, stamp, T0 + 0.05)
    assert not verdict.believed and verdict.fault and reason in verdict.reason
    assert monitor.check(moved(0, 0.01), REST, T0 + 0.1, T0 + 0.1).believed  # the baseline stayed the last good one


def test_a_late_state_is_dropped_not_a_fault():
    verdict = monitor_at_home().check(HOME, REST, T0 + 0.1, T0 + 0.1 + CONFIG.state_stale_after + 0.1)
    assert not verdict.believed and not verdict.fault and "old dropped" in verdict.reason


def test_arm_joints_must_be_where_the_supervisor_commanded_them_but_the_gripper_need_not():
    monitor = monitor_at_home()
    commanded = moved(1, 0.6)  # joint 2 commanded 0.6 rad away; the state says home
    verdict = monitor.check(HOME, REST, T0 + 0.05, T0 + 0.05, commanded)
    assert verdict.fault and "panda_joint2 at -0.3 is 0.6 from where it was commanded" in verdict.reason
    closed_on_a_cube = HOME.copy()
    closed_on_a_cube[-1] = 0.02  # commanded shut (0.0), stopped by the cube
    assert monitor.check(closed_on_a_cube, REST, T0 + 0.3, T0 + 0.3, moved(7, -0.04)).believed


def test_after_forget_any_plausible_state_is_the_new_baseline():
    monitor = monitor_at_home()
    assert monitor.check(moved(0, 1.0), REST, T0 + 0.05, T0 + 0.05).fault  # the sim's new scene: a jump
    monitor.forget()
    assert monitor.check(moved(0, 1.0), REST, T0 + 0.1, T0 + 0.1).believed


def test_the_commanded_motion_is_the_controllers_linear_interpolation():
    motion = CommandedMotion(LIMITS.names)
    assert not motion.known.any() and not motion.in_motion(0.0)
    arm = LIMITS.arm_names
    targets = HOME[:7] + np.outer([1, 2], 0.1 * np.eye(7)[0])  # joint 1: +0.1 rad per 0.1 s
    motion.follow(arm, targets, [0.1, 0.2], now=10.0, start=HOME)
    state = motion.at(10.05)
    assert state.positions[0] == pytest.approx(0.05) and state.velocities[0] == pytest.approx(1.0)
    assert np.isnan(state.positions[7])  # the gripper was never commanded
    assert motion.in_motion(10.15) and not motion.in_motion(10.2)
    held = motion.at(11.0)
    assert held.positions[0] == pytest.approx(0.2) and held.velocities[0] == 0.0  # held at the end
    # a new command replaces the old one from where its target is now, as the controller does
    motion.follow(arm, HOME[None, :7], [0.1], now=10.15, start=HOME)
    assert motion.at(10.15).positions[0] == pytest.approx(0.15)
    assert motion.at(10.2).velocities[0] == pytest.approx(-1.5)
    motion.forget()
    assert not motion.known.any()


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e300, max_value=1e300),
                min_size=8, max_size=8))
def test_a_stop_is_bounded_by_the_limits_whatever_velocity_it_is_given(velocities):
    stop = controlled_stop(HOME, velocities, LIMITS, CONFIG)
    longest = max(v / a for v, a in zip(LIMITS.max_velocity, LIMITS.max_acceleration)) / CONFIG.stop_deceleration
    assert len(stop.points) <= longest / CONFIG.stop_step + 2
    assert stop.points[-1].time_from_start <= longest + CONFIG.stop_step


def test_a_command_too_big_to_check_is_refused_at_once():
    kinematics = CONFIG.description.tool_kinematics()
    many = Trajectory(LIMITS.names, [TrajectoryPoint(tuple(HOME), 0.01 * (i + 1)) for i in range(10 * MAX_POINTS)])
    verdict = check_trajectory(many, HOME, REST, limits=LIMITS, kinematics=kinematics, config=CONFIG)
    assert isinstance(verdict, Rejected) and f"10000 points; at most {MAX_POINTS}" in verdict.reason
    # back and forth across joint 1's range, 1000 times: too far to sample
    far = [TrajectoryPoint(tuple(moved(0, 2.5 * (-1) ** i)), 2.0 * (i + 1)) for i in range(MAX_POINTS)]
    verdict = check_trajectory(Trajectory(LIMITS.names, far), HOME, REST, limits=LIMITS, kinematics=kinematics,
                               config=CONFIG)
    assert isinstance(verdict, Rejected) and "travels too far to check" in verdict.reason
