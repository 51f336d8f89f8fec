"""Tool-point forward kinematics from the URDF chain, against PyBullet's own on random joint positions."""

from __future__ import annotations

import numpy as np
import pybullet
import pytest
from conftest import ROBOT_NAMES
from hypothesis import given, settings
from hypothesis import strategies as st
from pybullet_utils.bullet_client import BulletClient

from robostral.safety import robot_limits
from robots import ToolKinematics, load_robot


@pytest.fixture(scope="module", params=ROBOT_NAMES)
def arm(request):
    """(robot name, our kinematics, pybullet's tool point of arm joint positions)."""
    spec = load_robot(request.param)
    client = BulletClient(pybullet.DIRECT)
    body = client.loadURDF(str(spec.urdf), useFixedBase=True)
    joints, links = {}, {}
    for index in range(client.getNumJoints(body)):
        info = client.getJointInfo(body, index)
        joints[info[1].decode()], links[info[12].decode()] = index, index

    def reference(positions: np.ndarray) -> np.ndarray:
        for name, q in zip(spec.arm_joints, positions):
            client.resetJointState(body, joints[name], q)
        state = client.getLinkState(body, links[spec.tool_link], computeForwardKinematics=True)
        rotation = np.array(client.getMatrixFromQuaternion(state[5])).reshape(3, 3)
        return np.array(state[4]) + rotation @ np.array(spec.tool_offset)

    yield request.param, spec.tool_kinematics(), reference
    client.disconnect()


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_tool_point_matches_pybullet(arm, seed):
    robot, kinematics, reference = arm
    limits = robot_limits(load_robot(robot), position_margin=0.0, gripper_margin=0.0)
    positions = np.random.default_rng(seed).uniform(
        limits.lower[:-1], limits.upper[:-1], size=(5, len(limits.names) - 1)
    )
    ours = kinematics.tool_points(positions)
    assert ours.shape == (5, 3)
    for q, point in zip(positions, ours):
        assert np.max(np.abs(point - reference(q))) < 1e-6


def test_chain_moves_the_arm_joints_in_order():
    for robot in ROBOT_NAMES:
        assert load_robot(robot).tool_kinematics().joint_names == load_robot(robot).arm_joints


def test_single_configuration_and_prismatic_joints(tmp_path):
    urdf = tmp_path / "slide.urdf"
    urdf.write_text(
        """<robot name="slide">
  <link name="base"/><link name="carriage"/><link name="tool"/>
  <joint name="rail" type="prismatic"><parent link="base"/><child link="carriage"/>
    <origin xyz="0 0 1" rpy="0 0 1.5707963267948966"/><axis xyz="1 0 0"/>
    <limit lower="0" upper="1" velocity="1" effort="1"/></joint>
  <joint name="wrist" type="continuous"><parent link="carriage"/><child link="tool"/><axis xyz="0 0 1"/></joint>
</robot>"""
    )
    kinematics = ToolKinematics.from_urdf(urdf, "tool", (0.1, 0.0, 0.0))
    assert kinematics.joint_names == ("rail", "wrist")
    # the rail runs along the base y axis (its frame is yawed 90 degrees); the wrist turns the offset
    np.testing.assert_allclose(kinematics.tool_points([0.5, np.pi / 2]), [[-0.1, 0.5, 1.0]], atol=1e-12)


def test_an_unknown_tool_link_is_named():
    spec = load_robot("panda")
    with pytest.raises(ValueError, match="no joint leads to the tool link 'panda_hand_typo'"):
        ToolKinematics.from_urdf(spec.urdf, "panda_hand_typo", (0.0, 0.0, 0.0))
