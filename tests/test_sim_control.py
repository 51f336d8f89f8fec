"""How actions reach the motors: latency, velocity limits, clipping, action noise (observed on the joints)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import NOMINAL, ROBOT_NAMES, hold, only

from sim.randomization import RandomizationConfig

# Only latency left random: episodes differ in their latency alone.
LATENCY_ONLY = only(action_latency=2)


def _seed_with_latency(env, latency: int) -> int:
    for seed in range(100):
        if env.reset(seed=seed)[1]["randomization"]["action_latency"] == latency:
            return seed
    raise AssertionError(f"no seed below 100 draws latency {latency}")


def _joint_trajectory(env, seed: int, action: np.ndarray, steps: int) -> np.ndarray:
    env.reset(seed=seed)
    robot = env.unwrapped.robot
    positions = [robot.joint_positions()]
    for _ in range(steps):
        env.step(action)
        positions.append(robot.joint_positions())
    return np.array(positions)


@pytest.mark.parametrize("robot", ROBOT_NAMES)
def test_latency_delays_the_commanded_motion_by_that_many_steps(make_env, robot):
    env = make_env("reach", robot, randomization=LATENCY_ONLY)
    home = env.unwrapped.robot.home
    action = home.copy()
    action[0] += 1.0  # swing the base joint
    steps = 6
    trajectories = {
        latency: _joint_trajectory(env, _seed_with_latency(env, latency), action, steps) for latency in (0, 1, 2)
    }
    for latency, trajectory in trajectories.items():
        base = trajectory[:, 0] - trajectory[0, 0]
        assert np.all(np.abs(base[: latency + 1]) < 1e-3), (latency, base)  # still holding for `latency` steps
        assert abs(base[latency + 1]) > 0.03, (latency, base)  # then it starts
        # The same motion, shifted by `latency` control steps.
        np.testing.assert_allclose(trajectory[latency:], trajectories[0][: steps + 1 - latency], atol=1e-3)


def test_latency_is_zero_at_level_zero(make_env):
    env = make_env("reach", randomization=RandomizationConfig(action_latency=5, level=0.0))
    assert {env.reset(seed=seed)[1]["randomization"]["action_latency"] for seed in range(10)} == {0}


@pytest.mark.parametrize("robot", ROBOT_NAMES)
def test_a_far_target_moves_each_joint_at_most_its_velocity_limit(make_env, robot):
    env = make_env("reach", robot, randomization=NOMINAL)
    model = env.unwrapped.robot
    env.reset(seed=0)
    home = model.home
    # Each joint heads 1 rad (or its whole travel) toward its farther limit.
    toward_upper = model.upper - home > home - model.lower
    target = np.where(toward_upper, np.minimum(model.upper, home + 1.0), np.maximum(model.lower, home - 1.0))
    max_move = model.max_velocity / env.unwrapped.config.control_hz
    steps_needed = np.abs(target - home) / max_move
    assert np.all(steps_needed[:-1] > 6)  # the arm joints stay rate-limited throughout
    start = previous = model.joint_positions()
    for k in range(1, 7):
        env.step(target)
        q = model.joint_positions()
        assert np.all(np.abs(q - previous) <= 1.25 * max_move), (k, np.abs(q - previous) / max_move)
        travelled = np.abs(q - start)
        assert np.all(travelled <= k * max_move * 1.05 + 1e-3), (k, travelled / max_move)
        # ... and close to the limit (the motors trail the target by about a step): the rate limiter,
        # not a sluggish controller, sets the pace.
        assert np.all(travelled >= 0.8 * (np.minimum(k, steps_needed) - 1) * max_move), (k, travelled / max_move)
        previous = q


@pytest.mark.parametrize("robot", ROBOT_NAMES)
def test_out_of_range_targets_are_clipped_and_reported(make_env, robot):
    env, twin = make_env("reach", robot), make_env("reach", robot)
    model = env.unwrapped.robot
    env.reset(seed=3)
    twin.reset(seed=3)
    action = hold(env).astype(np.float64)
    action[0] = model.upper[0] + 0.7  # the base joint: swinging it hits nothing
    action[-1] = model.lower[-1] - 1e6
    observation, _, _, _, info = env.step(action)
    assert info["action_clipped"] is True
    assert info["clipped_joints"] == [model.joint_names[0], model.joint_names[-1]]
    clipped = np.clip(action, model.lower, model.upper)
    expected, _, _, _, twin_info = twin.step(clipped)
    assert twin_info["action_clipped"] is False and twin_info["clipped_joints"] == []
    np.testing.assert_array_equal(observation["proprio"], expected["proprio"])
    # Driving past the limit ends at the limit, not beyond.
    for _ in range(50):
        env.step(action)
    q = model.joint_positions()
    assert q[0] == pytest.approx(model.upper[0], abs=0.02)
    assert np.all(q >= model.lower - 0.02) and np.all(q <= model.upper + 0.02)


def test_action_noise_perturbs_the_joints_and_stays_seeded(make_env):
    quiet = make_env("reach", randomization=only())
    noisy, noisy_again = (make_env("reach", randomization=only(action_noise=0.01)) for _ in range(2))
    action = quiet.unwrapped.robot.home
    runs = [_joint_trajectory(env, 5, action, 5) for env in (quiet, noisy, noisy_again)]
    np.testing.assert_array_equal(runs[1], runs[2])
    difference = np.abs(runs[1][-1] - runs[0][-1])[:-1]
    assert 1e-4 < difference.max() < 0.05


def test_randomized_joint_damping_slows_the_arm(make_env):
    free = make_env("reach", randomization=only())
    damped = make_env("reach", randomization=only(joint_damping=40.0))
    assert damped.reset(seed=2)[1]["randomization"]["joint_damping"] > 5.0
    action = free.unwrapped.robot.home.copy()
    action[:4] += 0.8
    runs = [_joint_trajectory(env, 2, action, 6) for env in (free, damped)]
    lag = np.abs(runs[0][-1] - runs[0][0]) - np.abs(runs[1][-1] - runs[1][0])
    assert lag[:4].min() > 0.002  # the damped arm has covered less ground on every driven joint
