"""Safety limits: read from the URDFs, accelerations from the makers, the config from YAML."""

from __future__ import annotations

import numpy as np
import pybullet
import pytest
from conftest import ROBOT_NAMES
from pybullet_utils.bullet_client import BulletClient

from robostral.safety import JointLimits, SafetyConfig, robot_limits
from robots import Workspace, load_robot
from sim.config import from_dict, from_yaml


@pytest.mark.parametrize("robot", ROBOT_NAMES)
def test_limits_match_what_pybullet_reads_from_the_urdf(robot):
    description = load_robot(robot)
    limits = robot_limits(description, position_margin=0.05, gripper_margin=0.0)
    assert limits.names == (*description.arm_joints, description.gripper.drive) == description.joint_names
    client = BulletClient(pybullet.DIRECT)
    try:
        body = client.loadURDF(str(description.urdf), useFixedBase=True)
        info = {
            client.getJointInfo(body, i)[1].decode(): client.getJointInfo(body, i)
            for i in range(client.getNumJoints(body))
        }
    finally:
        client.disconnect()
    for i, name in enumerate(limits.names):
        assert (limits.lower[i], limits.upper[i], limits.max_velocity[i]) == pytest.approx(
            (info[name][8], info[name][9], info[name][11])
        )
        assert description.joints[i].name == name
        assert limits.max_acceleration[i] == description.joints[i].acceleration > 0
    np.testing.assert_allclose(limits.low[:-1], np.array(limits.lower[:-1]) + 0.05)
    np.testing.assert_allclose(limits.high[:-1], np.array(limits.upper[:-1]) - 0.05)
    assert (limits.low[-1], limits.high[-1]) == (limits.lower[-1], limits.upper[-1])
    home = np.array([*description.home, description.gripper.open])
    np.testing.assert_array_equal(home, description.home_positions)
    assert np.all((home >= limits.low) & (home <= limits.high)), "home must be commandable"


def test_panda_accelerations_are_frankas_published_values():
    limits = SafetyConfig(robot="panda").joint_limits()
    assert limits.max_acceleration[:7] == (15.0, 7.5, 10.0, 12.5, 15.0, 20.0, 20.0)


def test_groups_are_what_the_controllers_take():
    limits = SafetyConfig(robot="xarm6").joint_limits()
    assert limits.groups == (limits.names, limits.names[:-1], ("drive_joint",))
    assert (limits.arm_names, limits.gripper_name) == (limits.names[:-1], "drive_joint")


def test_config_loads_from_yaml_with_a_nested_workspace(tmp_path):
    path = tmp_path / "safety.yaml"
    path.write_text(
        "robot: xarm6\nposition_margin: 0.1\nworkspace:\n  low: [-0.5, -0.5, 0.02]\n  high: [0.7, 0.5, 0.9]\n"
    )
    config = from_yaml(SafetyConfig, path)
    assert config.workspace == Workspace(low=(-0.5, -0.5, 0.02), high=(0.7, 0.5, 0.9))
    assert config.joint_limits().margin == (0.1,) * 6 + (0.0,)
    assert config.watchdog_timeout == SafetyConfig().watchdog_timeout
    assert SafetyConfig(robot="xarm6").workspace == load_robot("xarm6").workspace  # none given: the description's


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"workspace": {"lowe": [0, 0, 0]}}, r"SafetyConfig.workspace: Workspace: unknown key\(s\) lowe"),
        ({"robot": "kuka"}, "unknown robot 'kuka'"),
        ({"watchdog_timeout": 0}, r"SafetyConfig.watchdog_timeout must be a finite number > 0, got 0"),
        ({"manual_tool_speed": float("nan")}, "SafetyConfig.manual_tool_speed must be a finite number > 0"),
        ({"position_margin": -0.1}, r"SafetyConfig.position_margin must be a finite number >= 0, got -0.1"),
        ({"sample_step": "fine"}, "SafetyConfig.sample_step must be float, got 'fine'"),
        ({"stop_deceleration": 1.5}, r"stop_deceleration must be in \(0, 1\], got 1.5"),
        ({"workspace": {"low": [0, 0, 1], "high": [1, 1, 1]}},
         "SafetyConfig.workspace: the workspace's low must be finite and below high"),
        ({"workspace": {"low": [0, 0]}}, r"Workspace.low must be tuple\[float, float, float\], got \[0, 0\]"),
    ],
)
def test_bad_config_values_are_named(values, message):
    with pytest.raises(ValueError, match=message):
        from_dict(SafetyConfig, values)


def test_a_margin_that_leaves_no_range_is_refused():
    with pytest.raises(ValueError, match="panda_finger_joint1: margin 0.03 leaves nothing of"):
        SafetyConfig(gripper_margin=0.03).joint_limits()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"names": ("a", "a")}, "must be 2 or more distinct names"),
        ({"lower": (0.0,)}, "JointLimits.lower has 1 values for 2 joints"),
        ({"max_velocity": (1.0, 0.0)}, "JointLimits of b: velocity, acceleration and jerk must be > 0"),
        ({"max_jerk": (-1.0, 1.0)}, "JointLimits of a: velocity, acceleration and jerk must be > 0"),
        ({"upper": (1.0, float("inf"))}, "JointLimits.upper of b must be finite"),
    ],
)
def test_joint_limits_validate_themselves(change, message):
    values = dict(
        names=("a", "b"),
        lower=(-1.0, 0.0),
        upper=(1.0, 0.1),
        max_velocity=(1.0, 1.0),
        max_acceleration=(1.0, 1.0),
        max_jerk=(10.0, 10.0),
        margin=(0.1, 0.0),
    )
    with pytest.raises(ValueError, match=message):
        JointLimits(**{**values, **change})


def test_workspace_box_contains_its_borders_only():
    box = Workspace(low=(0.0, 0.0, 0.0), high=(1.0, 1.0, 1.0))
    points = np.array([[0.0, 0.5, 1.0], [0.5, 0.5, 1.0001], [-1e-9, 0.5, 0.5], [np.nan, 0.5, 0.5]])
    assert box.contains(points).tolist() == [True, False, False, False]
