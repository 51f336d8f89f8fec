"""The Gymnasium contract of every registered env: spaces, observations, episodes, determinism."""

from __future__ import annotations

import warnings

import gymnasium
import numpy as np
import pytest
from conftest import NOMINAL, ROBOT_NAMES, hold, teleport
from gymnasium.utils.env_checker import check_env

from sim.envs import ENV_IDS
from sim.language import CHARSET
from sim.tasks import TASKS
from sim.tasks.chain import LINK_STEPS, ChainScene

GRID = [(task, robot) for task in ENV_IDS for robot in ROBOT_NAMES]

# check_env's advice that does not apply: actions are joint targets in joint units by design,
# and the wrapped env is checked on purpose, next to the unwrapped one.
EXPECTED_WARNINGS = ("symmetric and normalized", "different from the unwrapped version")


def checked(env) -> None:
    """Run ``check_env`` and fail on any warning other than the expected ones."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env, skip_render_check=True)
    unexpected = [str(w.message) for w in caught if not any(text in str(w.message) for text in EXPECTED_WARNINGS)]
    assert not unexpected


def test_every_task_and_the_chain_scene_are_registered_with_their_time_limits():
    assert set(TASKS) == {"reach", "push", "pick_place", "stack"} and set(ENV_IDS) == {*TASKS, "chain"}
    names = ("Reach", "Push", "PickPlace", "Stack", "Chain")
    assert set(ENV_IDS.values()) == {f"robostral/{n}-v0" for n in names}
    for task, env_id in ENV_IDS.items():
        limit = LINK_STEPS if task == "chain" else TASKS[task].max_episode_steps
        assert gymnasium.spec(env_id).max_episode_steps == limit > 0
    assert gymnasium.spec(ENV_IDS["chain"]).kwargs["task"] is ChainScene


@pytest.mark.parametrize("task,robot", GRID)
def test_check_env_passes_on_the_raw_env(task, robot):
    env = gymnasium.make(ENV_IDS[task], robot=robot, image_size=32)
    try:
        checked(env.unwrapped)
    finally:
        env.close()


@pytest.mark.parametrize("task,robot", GRID)
def test_check_env_passes_through_gymnasium_make(task, robot):
    env = gymnasium.make(ENV_IDS[task], robot=robot, image_size=32, wrist_camera=True)
    try:
        checked(env)
    finally:
        env.close()


@pytest.mark.parametrize("robot", ROBOT_NAMES)
def test_render_returns_an_rgb_frame(make_env, robot):
    env = make_env("push", robot, render_mode="rgb_array", image_size=32, render_size=80)
    env.reset(seed=0)
    frame = env.render()
    assert frame.shape == (80, 80, 3) and frame.dtype == np.uint8
    assert frame.std() > 10  # a scene, not a blank buffer
    # Without a policy camera render() still draws the scene, at render_size.
    headless = make_env("push", robot, render_mode="rgb_array", image_size=0, render_size=64)
    headless.reset(seed=0)
    frame = headless.render()
    assert frame.shape == (64, 64, 3) and frame.dtype == np.uint8 and frame.std() > 10


def test_render_without_render_mode_returns_none(make_env):
    env = make_env("reach")
    env.reset(seed=0)
    assert env.unwrapped.render() is None


@pytest.mark.parametrize("robot", ROBOT_NAMES)
def test_default_observation(make_env, robot):
    env = make_env("stack", robot, image_size=96)
    observation, info = env.reset(seed=3)
    assert set(observation) == {"image", "proprio", "instruction"}
    assert observation["image"].shape == (96, 96, 3) and observation["image"].dtype == np.uint8
    assert env.observation_space["image"].shape == (96, 96, 3)
    n = len(env.unwrapped.robot.description.arm_joints)
    assert observation["proprio"].shape == (2 * n + 1,) and observation["proprio"].dtype == np.float32
    instruction = observation["instruction"]
    assert isinstance(instruction, str) and instruction and set(instruction) <= set(CHARSET)
    assert env.observation_space["instruction"].contains(instruction)
    assert instruction == info["instruction"]
    assert env.observation_space.contains(observation)
    assert set(info) >= {"is_success", "instruction", "randomization", "action_clipped", "clipped_joints"}
    assert info["is_success"] is False and info["task"] == "stack" and info["robot"] == robot


def test_the_default_image_size_is_96():
    env = gymnasium.make("robostral/Reach-v0")
    try:
        assert env.reset(seed=0)[0]["image"].shape == (96, 96, 3)
    finally:
        env.close()


def test_image_size_and_wrist_camera_are_configurable(make_env):
    env = make_env("pick_place", "xarm6", image_size=40, wrist_camera=True)
    observation, _ = env.reset(seed=1)
    assert set(observation) == {"image", "wrist_image", "proprio", "instruction"}
    for key in ("image", "wrist_image"):
        assert observation[key].shape == (40, 40, 3) and observation[key].dtype == np.uint8
        assert env.observation_space[key].shape == (40, 40, 3)
    assert not np.array_equal(observation["image"], observation["wrist_image"])
    # The wrist camera rides on the arm: moving the wrist changes its view.
    action = hold(env)
    action[0] += 0.6
    for _ in range(8):
        moved, *_ = env.step(action)
    assert np.abs(moved["wrist_image"].astype(int) - observation["wrist_image"]).mean() > 2


def test_image_size_zero_drops_the_cameras(make_env):
    env = make_env("reach", image_size=0, wrist_camera=True)
    observation, _ = env.reset(seed=0)
    assert set(observation) == {"proprio", "instruction"}
    assert set(env.observation_space.spaces) == {"proprio", "instruction"}
    observation, *_ = env.step(hold(env))
    assert set(observation) == {"proprio", "instruction"}


@pytest.mark.parametrize("robot", ROBOT_NAMES)
def test_proprio_is_arm_positions_then_velocities_then_gripper(make_env, robot):
    env = make_env("reach", robot, randomization=NOMINAL)
    robot_model = env.unwrapped.robot
    n = len(robot_model.description.arm_joints)
    observation, _ = env.reset(seed=0)
    np.testing.assert_allclose(observation["proprio"][:n], robot_model.home[:-1], atol=0.01)
    np.testing.assert_allclose(observation["proprio"][-1], robot_model.gripper.open, atol=1e-3)
    action = hold(env)
    action[:n] += 0.4
    action[-1] = robot_model.gripper.closed
    for _ in range(3):
        observation, *_ = env.step(action)
    q, qd = robot_model.joint_positions(), robot_model.joint_velocities()
    proprio = observation["proprio"]
    np.testing.assert_allclose(proprio[:n], q[:-1], atol=1e-6)
    np.testing.assert_allclose(proprio[n : 2 * n], qd[:-1], atol=1e-5)
    np.testing.assert_allclose(proprio[-1], q[-1], atol=1e-6)
    assert np.all(np.abs(proprio[n : 2 * n]) > 0.1)  # every arm joint is moving
    # The gripper is closing: its position has left the open end.
    assert abs(proprio[-1] - robot_model.gripper.open) > 1e-3


@pytest.mark.parametrize("robot", ROBOT_NAMES)
def test_reach_terminates_with_reward_when_the_tool_is_over_the_target(make_env, robot):
    env = make_env("reach", robot)
    _, info = env.reset(seed=2)
    robot_model, task = env.unwrapped.robot, env.unwrapped.task
    assert not info["is_success"]
    for _ in range(TASKS["reach"].max_episode_steps - 1):
        arm = robot_model.inverse_kinematics(task.hover_point())
        _, reward, terminated, truncated, info = env.step(np.append(arm, robot_model.gripper.open))
        assert terminated == info["is_success"] and reward == float(terminated) and not truncated
        if terminated:
            break
    assert terminated
    assert np.linalg.norm(robot_model.tool_position() - task.hover_point()) < 0.025


def _step_until_success(env, steps: int = 20) -> bool:
    for _ in range(steps):
        _, reward, terminated, truncated, info = env.step(hold(env))
        assert terminated == info["is_success"] and reward == float(terminated) and not truncated
        if terminated:
            return True
    return False


def _other(env, prefix: str, goal: str) -> str:
    return next(name for name in env.unwrapped.task.objects if name.startswith(prefix) and name != goal)


@pytest.mark.parametrize("task", ["push", "pick_place"])
def test_the_goal_cube_in_the_named_place_succeeds_and_in_the_other_does_not(make_env, task):
    prefix = {"push": "zone_", "pick_place": "bin_"}[task]
    for place_in_goal in (False, True):
        env = make_env(task, "panda")
        env.reset(seed=4)
        sim_, goal = env.unwrapped.sim, env.unwrapped.task.goal
        place = goal.b if place_in_goal else _other(env, prefix, goal.b)
        size = env.unwrapped.task.sizes[goal.a]
        floor = 0.004 if task == "pick_place" else 0.0  # top of a bin's floor plate
        teleport(env, goal.a, sim_.position(place) + [0.0, 0.0, floor + size / 2 + 0.002])
        assert _step_until_success(env) is place_in_goal


def test_stack_succeeds_only_with_the_named_cube_on_top(make_env):
    for named_on_top in (False, True):
        env = make_env("stack", "xarm6")
        env.reset(seed=5)
        task = env.unwrapped.task
        top, base = (task.goal.a, task.goal.b) if named_on_top else (task.goal.b, task.goal.a)
        height = (task.sizes[top] + task.sizes[base]) / 2
        teleport(env, top, env.unwrapped.sim.position(base) + [0.0, 0.0, height + 0.002])
        assert _step_until_success(env) is named_on_top


def test_episodes_are_truncated_by_the_registered_time_limit(make_env):
    env = make_env("reach")
    env.reset(seed=0)
    limit = TASKS["reach"].max_episode_steps
    action = hold(env)
    for step in range(1, limit + 1):
        _, _, terminated, truncated, info = env.step(action)
        assert not terminated and not info["is_success"]
        assert truncated == (step == limit)


# -- determinism --------------------------------------------------------------------------------


def _rollout(env, seed: int, steps: int = 8) -> list[dict]:
    observation, _ = env.reset(seed=seed)
    robot = env.unwrapped.robot
    rng = np.random.default_rng(1234)  # the same action sequence for every rollout
    observations = [observation]
    for _ in range(steps):
        action = np.clip(robot.home + rng.normal(0.0, 0.3, robot.action_size), robot.lower, robot.upper)
        observations.append(env.step(action.astype(np.float32))[0])
    return observations


def _identical(a: list[dict], b: list[dict]) -> bool:
    return all(x.keys() == y.keys() and all(np.array_equal(x[k], y[k]) for k in x) for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("task,robot", GRID)
def test_same_seed_same_actions_give_bit_identical_observations(make_env, task, robot):
    env = make_env(task, robot, image_size=24, wrist_camera=True)
    first = _rollout(env, seed=11)
    _rollout(env, seed=12)  # another episode in between must not leak into the next
    again = _rollout(env, seed=11)
    fresh = _rollout(make_env(task, robot, image_size=24, wrist_camera=True), seed=11)
    assert _identical(first, again)
    assert _identical(first, fresh)


def test_advance_moves_the_physics_without_rendering_and_observe_renders_it(make_env):
    """The driver's split of a step: ``advance`` renders nothing (so joint states can go out first);
    ``advance`` then ``observe`` changes nothing in the episode against ``step``."""
    stepping, splitting = (make_env("push", image_size=24).unwrapped for _ in range(2))
    stepping.reset(seed=5)
    splitting.reset(seed=5)
    renders = []
    render = splitting.camera.render
    splitting.camera.render = lambda *args: renders.append(1) or render(*args)
    rng = np.random.default_rng(0)
    for _ in range(8):
        action = stepping.robot.home + rng.normal(0.0, 0.3, stepping.robot.action_size)
        observation, reward, terminated, truncated, info = stepping.step(action)
        before = splitting.robot.joint_state()[0].copy()
        assert splitting.advance(action)[:3] == (reward, terminated, truncated)
        assert not renders and not np.array_equal(splitting.robot.joint_state()[0], before)  # moved, unrendered
        assert _identical([observation], [splitting.observe()])
        assert len(renders) == 1
        renders.clear()


@pytest.mark.parametrize("robot", ROBOT_NAMES)
def test_different_seeds_give_different_scenes(make_env, robot):
    env = make_env("pick_place", robot, image_size=32)
    scenes = []
    for seed in range(4):
        observation, info = env.reset(seed=seed)
        positions = {name: env.unwrapped.sim.position(name).round(6).tolist() for name in env.unwrapped.task.objects}
        scenes.append((observation["image"], info["randomization"], positions))
    for i in range(len(scenes)):
        for j in range(i):
            assert not np.array_equal(scenes[i][0], scenes[j][0])
            assert scenes[i][1] != scenes[j][1]
            assert scenes[i][2] != scenes[j][2]


def test_reset_without_a_seed_continues_the_seeded_stream(make_env):
    env = make_env("push")
    env.reset(seed=21)
    first = env.reset()[1]["randomization"]
    env.reset(seed=21)
    assert env.reset()[1]["randomization"] == first
