"""The proprioceptive state every policy reads, built in one place for the env, the policy node and from-bag.

Arm joint positions [rad], then arm joint velocities [rad/s], then the gripper's position
(its driving joint, in that joint's units): ``2 * arm joints + 1`` values, in the robot's
joint order (``Robot.joint_names``: the arm joints, then the gripper's driving joint).
"""

from __future__ import annotations

import numpy as np

LAYOUT = "arm joint positions, arm joint velocities, gripper position"  # as cards and datasets describe it


def proprio_state(positions: np.ndarray, velocities: np.ndarray) -> np.ndarray:
    """The float32 state of joint ``positions`` and ``velocities`` (arm joints then the gripper's joint)."""
    positions, velocities = np.asarray(positions), np.asarray(velocities)
    if positions.shape != velocities.shape or positions.ndim != 1 or positions.size < 2:
        raise ValueError(f"positions {positions.shape} and velocities {velocities.shape} must be the same "
                         "1-D shape: arm joints then the gripper's joint")
    return np.concatenate([positions[:-1], velocities[:-1], positions[-1:]]).astype(np.float32)


def proprio_joints(state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The joint positions and velocities (arm joints then the gripper's joint) of a state: ``proprio_state``'s
    inverse, the gripper's velocity zero (a state holds none)."""
    state = np.asarray(state, dtype=np.float64)
    if state.ndim != 1 or state.size < 3 or state.size % 2 == 0:
        raise ValueError(f"a state is 2 * arm joints + 1 values ({LAYOUT}), got shape {state.shape}")
    arm = state.size // 2
    return np.append(state[:arm], state[-1]), np.append(state[arm:2 * arm], 0.0)
