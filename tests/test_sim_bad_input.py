"""Bad input gets a clear error and loses nothing: unknown names, malformed actions, bad configs."""

from __future__ import annotations

import gymnasium
import numpy as np
import pytest
from conftest import ROBOT_NAMES, hold
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.env import EnvConfig, RobotTaskEnv


def test_unknown_robot_names_the_known_ones():
    with pytest.raises(ValueError, match="unknown robot 'ur9'; known robots: panda, ur5, xarm6"):
        gymnasium.make("robostral/Reach-v0", robot="ur9")


def test_unknown_task_names_the_known_ones():
    with pytest.raises(ValueError, match="unknown task 'fold'; known tasks: pick_place, push, reach, stack"):
        RobotTaskEnv(task="fold")
    with pytest.raises(ValueError, match="known tasks: pick_place, push, reach, stack"):
        gymnasium.make("robostral/Reach-v0", task="fold")


@pytest.mark.parametrize(
    "config,message",
    [
        ({"image_size": -1}, "image_size must be >= 0"),
        ({"physics_hz": 250}, "physics_hz \\(250\\) must be a positive multiple of control_hz \\(20\\)"),
        ({"control_hz": 0}, "must be a positive multiple of control_hz \\(0\\)"),
        ({"physics_hz": 0}, "physics_hz \\(0\\) must be a positive multiple"),
        ({"physics_hz": -240}, "physics_hz \\(-240\\) must be a positive multiple"),
        ({"instructions": "test"}, "instructions must be one of \\('train', 'heldout'\\), got 'test'"),
        ({"imagesize": 64}, "unknown key\\(s\\) imagesize; known keys: .*image_size"),
        ({"randomization": {"leve": 1}}, "unknown key\\(s\\) leve"),
        ({"randomization": {"level": -0.5}}, "RandomizationConfig.level must be a finite number >= 0"),
        ({"light": {"light_ambinet": 0.4}}, "unknown key\\(s\\) light_ambinet"),
        ({"camera": {"fov": 40}}, "EnvConfig: unknown key\\(s\\) camera"),  # the camera is the robot description's
    ],
)
def test_bad_config_values_are_named(config, message):
    with pytest.raises(ValueError, match=message):
        gymnasium.make("robostral/Reach-v0", **config)


def test_env_config_validates_itself():
    with pytest.raises(ValueError, match="image_size"):
        EnvConfig(image_size=-8)
    with pytest.raises(ValueError, match="render_mode must be None or 'rgb_array', got 'human'"):
        RobotTaskEnv(task="reach", render_mode="human")


def test_a_nested_light_mapping_configures_the_light(make_env):
    env = make_env("reach", image_size=24, light={"light_ambient": 0.2})
    assert env.unwrapped.config.light.light_ambient == 0.2
    dim = env.reset(seed=0)[0]["image"]
    bright = make_env("reach", image_size=24, light={"light_ambient": 0.9}).reset(seed=0)[0]["image"]
    assert not np.array_equal(dim, bright)


def _bad_actions(names: list[str]) -> list[tuple[object, str]]:
    """(action, the error it must raise) pairs: wrong shapes, NaN, +inf, -inf."""
    n = len(names)
    nan, inf, negative_inf = np.zeros(n), np.zeros(n), np.zeros(n)
    nan[2], inf[-1], negative_inf[0] = np.nan, np.inf, -np.inf
    return [
        (np.zeros(n - 1), f"action must have shape \\({n},\\) \\({', '.join(names)}\\), got \\({n - 1},\\)"),
        (np.zeros(n + 1), f"got \\({n + 1},\\)"),
        (np.zeros((2, n)), f"got \\(2, {n}\\)"),
        (0.0, "got \\(\\)"),
        (nan, f"action has NaN or infinite targets for {names[2]}$"),
        (inf, f"action has NaN or infinite targets for {names[-1]}$"),
        (negative_inf, f"action has NaN or infinite targets for {names[0]}$"),
    ]


@pytest.mark.parametrize("robot", ROBOT_NAMES)
@pytest.mark.parametrize("raw", [False, True], ids=["make", "unwrapped"])
def test_malformed_actions_raise_and_change_nothing(make_env, robot, raw):
    env, twin = make_env("push", robot, image_size=16), make_env("push", robot, image_size=16)
    target = env.unwrapped if raw else env
    env.reset(seed=7)
    twin.reset(seed=7)
    action = hold(env)
    action[0] += 0.3
    for bad, message in _bad_actions(env.unwrapped.robot.joint_names):
        env.step(action)
        twin.step(action)
        with pytest.raises(ValueError, match=message):
            target.step(bad)
    # The env is still usable, and the bad actions left no trace: it is where its twin is, bit for bit.
    observation, *_ = env.step(action)
    expected, *_ = twin.step(action)
    for key in observation:
        assert np.array_equal(observation[key], expected[key]), key


@pytest.fixture(scope="module")
def xarm_env():
    env = gymnasium.make("robostral/Reach-v0", robot="xarm6", image_size=0)
    env.reset(seed=0)
    yield env
    env.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_every_non_finite_target_is_named(xarm_env, data):
    names = xarm_env.unwrapped.robot.joint_names
    bad = data.draw(st.sets(st.integers(0, len(names) - 1), min_size=1))
    action = hold(xarm_env).astype(np.float64)
    for i in bad:
        action[i] = data.draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    with pytest.raises(ValueError) as error:
        xarm_env.step(action)
    listed = str(error.value).split("targets for ")[1].split(", ")
    assert listed == [names[i] for i in sorted(bad)]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(offsets=st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=7, max_size=7))
def test_any_finite_target_is_accepted_and_clipping_is_reported_per_joint(xarm_env, offsets):
    model = xarm_env.unwrapped.robot
    action = np.clip(model.home, model.lower, model.upper) + np.array(offsets)
    _, _, _, _, info = xarm_env.step(action)
    outside = [name for name, a, lo, hi in zip(model.joint_names, action, model.lower, model.upper) if a < lo or a > hi]
    assert info["clipped_joints"] == outside
    assert info["action_clipped"] == bool(outside)
    assert np.all(np.isfinite(model.joint_positions()))
    xarm_env.reset(seed=0)
