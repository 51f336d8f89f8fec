"""Vector envs: several sims in one process (sync) or one per worker process (async)."""

from __future__ import annotations

import itertools

import gymnasium
import numpy as np
import pytest

from sim.language import COLORS, phrasings

ENV_ID = "robostral/Push-v0"


@pytest.fixture
def make_vec():
    envs = []

    def make(mode: str, **kwargs):
        env = gymnasium.make_vec(ENV_ID, num_envs=2, vectorization_mode=mode, image_size=32, **kwargs)
        envs.append(env)
        return env

    yield make
    for env in envs:
        env.close()


def _check_batch(env, observation, info) -> None:
    n = env.single_action_space.shape[0] - 1
    assert observation["image"].shape == (2, 32, 32, 3) and observation["image"].dtype == np.uint8
    assert observation["proprio"].shape == (2, 2 * n + 1) and observation["proprio"].dtype == np.float32
    assert not np.array_equal(observation["image"][0], observation["image"][1])  # two different scenes
    assert info["randomization"]["camera_dx"][0] != info["randomization"]["camera_dx"][1]
    for instruction in info["instruction"]:
        assert any(instruction in phrasings("push", "train", a, b) for a, b in itertools.permutations(COLORS, 2))


def _hold(observation, n: int) -> np.ndarray:
    """Each sub-env's current joints (arm positions and gripper, read from its proprio)."""
    proprio = observation["proprio"]
    return np.concatenate([proprio[:, :n], proprio[:, -1:]], axis=1)


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_vector_env_resets_and_steps_with_a_scene_per_sub_env(make_vec, mode):
    env = make_vec(mode)
    n = env.single_action_space.shape[0] - 1
    observation, info = env.reset(seed=0)
    _check_batch(env, observation, info)
    first_images = observation["image"].copy()
    for _ in range(3):
        observation, reward, terminated, truncated, info = env.step(_hold(observation, n))
    _check_batch(env, observation, info)
    assert reward.shape == terminated.shape == truncated.shape == (2,)
    assert not terminated.any() and not truncated.any()
    # Seeded: the same seed rebuilds the same two scenes.
    again, _ = env.reset(seed=0)
    np.testing.assert_array_equal(again["image"], first_images)


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_sub_envs_match_single_envs_with_the_offset_seeds(make_vec, mode):
    env = make_vec(mode)
    observation, info = env.reset(seed=40)
    for i in range(2):
        single = gymnasium.make(ENV_ID, image_size=32)
        try:
            expected, expected_info = single.reset(seed=40 + i)
        finally:
            single.close()
        np.testing.assert_array_equal(observation["image"][i], expected["image"])
        np.testing.assert_array_equal(observation["proprio"][i], expected["proprio"])
        assert info["instruction"][i] == expected_info["instruction"]


@pytest.mark.parametrize("mode,vector_kwargs", [("sync", {}), ("async", {"shared_memory": False})])
def test_batched_instructions_are_the_sub_envs_instructions(make_vec, mode, vector_kwargs):
    env = make_vec(mode, vector_kwargs=vector_kwargs)
    observation, info = env.reset(seed=3)
    assert tuple(observation["instruction"]) == tuple(info["instruction"])


@pytest.mark.xfail(
    strict=True,
    reason="Gymnasium's AsyncVectorEnv decodes Text observations from shared memory once, at construction; "
    "with shared_memory=True (the default) obs['instruction'] stays a padding string. Use "
    "vector_kwargs={'shared_memory': False} or info['instruction']. Remove this mark when Gymnasium fixes it.",
)
def test_async_shared_memory_instructions(make_vec):
    env = make_vec("async")
    observation, info = env.reset(seed=3)
    assert tuple(observation["instruction"]) == tuple(info["instruction"])
