"""The proprio layout, built in one place (sim.proprio) for the env, the policy node and from-bag."""

from __future__ import annotations

import numpy as np
import pytest

from sim.proprio import proprio_state
from sim.rollout import make_env


def test_arm_positions_then_arm_velocities_then_the_gripper_position():
    state = proprio_state([0.1, 0.2, 0.03], [1.0, 2.0, 9.0])
    assert state.dtype == np.float32
    np.testing.assert_allclose(state, [0.1, 0.2, 1.0, 2.0, 0.03])


@pytest.mark.parametrize("positions, velocities", [([0.1, 0.2], [1.0]), ([[0.1, 0.2]], [[1.0, 2.0]]), ([0.1], [1.0])])
def test_mismatched_or_too_short_joint_vectors_are_refused(positions, velocities):
    with pytest.raises(ValueError, match="arm joints then the gripper's joint"):
        proprio_state(positions, velocities)


def test_the_env_observes_the_same_state_from_its_robot():
    env = make_env("reach", "panda", image_size=32)
    try:
        observation, _ = env.reset(seed=3)
        q, qd = env.unwrapped.robot.joint_state()
        np.testing.assert_allclose(observation["proprio"], proprio_state(q, qd), atol=1e-3)
        assert observation["proprio"].shape == (2 * (len(env.unwrapped.robot.joint_names) - 1) + 1,)
    finally:
        env.close()
