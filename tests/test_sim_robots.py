"""The arms: limits read from the model, inverse kinematics, the gripper, and their render-light URDFs."""

from __future__ import annotations

import re
import shutil
import struct
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pybullet
import pytest
from conftest import NOMINAL, ROBOT_NAMES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from robots import load_robot
from sim.lite_urdf import render_light_urdf
from sim.robot import Robot
from sim.simulation import Simulation


def original_urdf(robot: str) -> Path:
    return load_robot(robot).urdf


@pytest.fixture(scope="module", params=ROBOT_NAMES)
def arm(request):
    sim = Simulation()
    yield Robot(sim, load_robot(request.param))
    sim.close()


# -- limits ------------------------------------------------------------------------------------


def test_limits_match_the_urdf(arm):
    joints = {j.get("name"): j for j in ET.parse(original_urdf(arm.name)).getroot().findall("joint")}
    for i, name in enumerate(arm.joint_names):
        limit = joints[name].find("limit")
        assert arm.lower[i] == pytest.approx(float(limit.get("lower")))
        assert arm.upper[i] == pytest.approx(float(limit.get("upper")))
        assert arm.max_velocity[i] == pytest.approx(float(limit.get("velocity")))
        assert arm.max_force[i] == pytest.approx(float(limit.get("effort")))
        assert arm.lower[i] < arm.upper[i] and arm.max_velocity[i] > 0
    assert np.all(arm.home >= arm.lower) and np.all(arm.home <= arm.upper)


def test_action_space_is_the_joint_limits(make_env):
    for robot in ROBOT_NAMES:
        env = make_env("reach", robot)
        model = env.unwrapped.robot
        assert env.action_space.shape == (model.action_size,) == (len(model.description.arm_joints) + 1,)
        np.testing.assert_allclose(env.action_space.low, model.lower, rtol=1e-6)
        np.testing.assert_allclose(env.action_space.high, model.upper, rtol=1e-6)


def test_unknown_robot_is_named():
    with pytest.raises(ValueError, match="unknown robot 'kuka'; known robots: panda, ur5, xarm6"):
        load_robot("kuka")


# -- kinematics --------------------------------------------------------------------------------

# Where the tasks put things: x forward, y left, z up from the table (metres).
WORKSPACE = {"x": (0.33, 0.6), "y": (-0.2, 0.2), "z": (0.02, 0.25), "yaw": (-0.8, 0.8)}
# The nominal task sites: reach hover points, cube grasp points, bin and carry heights.
TASK_SITES = [
    (0.42, -0.15, 0.05),
    (0.52, 0.0, 0.05),
    (0.42, 0.15, 0.05),
    (0.38, -0.12, 0.02),
    (0.38, 0.15, 0.02),
    (0.52, 0.0, 0.06),
    (0.56, -0.13, 0.15),
    (0.56, 0.13, 0.15),
    (0.45, 0.0, 0.3),
]


def _ik_error(arm, position: np.ndarray, yaw: float) -> tuple[float, float]:
    """Tool-point error (m) and how far the tool axis is from straight down (cosine), after a joint reset."""
    arm.reset(np.append(arm.inverse_kinematics(position, yaw), arm.gripper.open))
    state = arm.sim.client.getLinkState(arm.body, arm.tool_index, computeForwardKinematics=True)
    tool_z = np.array(arm.sim.client.getMatrixFromQuaternion(state[5])).reshape(3, 3)[:, 2]
    return float(np.linalg.norm(arm.tool_position() - position)), float(tool_z @ [0, 0, -1])


@pytest.mark.parametrize("site", TASK_SITES)
def test_one_ik_solve_from_home_reaches_the_task_sites(arm, site):
    arm.reset()
    error, down = _ik_error(arm, np.array(site), 0.0)
    assert error < 0.005 and down > 0.999


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(point=st.fixed_dictionaries({k: st.floats(*v) for k, v in WORKSPACE.items()}))
def test_ik_reaches_the_workspace_within_5mm(arm, point):
    """Anywhere in the workspace, re-solving once from the first solution (as the closed-loop experts do
    every step) lands the tool point within 5 mm, pointing down."""
    position = np.array([point["x"], point["y"], point["z"]])
    arm.reset()
    _ik_error(arm, position, point["yaw"])
    error, down = _ik_error(arm, position, point["yaw"])
    assert error < 0.005 and down > 0.999


def test_ik_solutions_respect_the_joint_limits(arm):
    arm.reset()
    q = arm.inverse_kinematics(np.array([0.9, 0.6, -0.3]))  # out of reach: the best effort is still legal
    assert np.all(q >= arm.lower[:-1]) and np.all(q <= arm.upper[:-1])


# -- gripper -----------------------------------------------------------------------------------


def _jaw_gap(env) -> float:
    """Distance between the two finger links (m)."""
    model, client = env.unwrapped.robot, env.unwrapped.sim.client
    left, right = model.gripper_indices[0], model.gripper_indices[-1]  # a joint's child link has its index
    if model.name == "xarm6":
        names = model.gripper.joints
        left, right = (model.gripper_indices[names.index(j)] for j in ("left_finger_joint", "right_finger_joint"))
    a = np.array(client.getLinkState(model.body, left, computeForwardKinematics=True)[4])
    b = np.array(client.getLinkState(model.body, right, computeForwardKinematics=True)[4])
    return float(np.linalg.norm(a - b))


@pytest.mark.parametrize("robot", ROBOT_NAMES)
def test_gripper_closes_and_opens(make_env, robot):
    env = make_env("reach", robot, randomization=NOMINAL)
    model = env.unwrapped.robot
    env.reset(seed=0)
    open_gap = _jaw_gap(env)
    assert model.gripper_closedness() == pytest.approx(0.0, abs=0.02)
    action = model.home.copy()
    action[-1] = model.gripper.closed
    for _ in range(15):
        env.step(action)
    assert model.gripper_closedness() > 0.95
    closed_gap = _jaw_gap(env)
    assert closed_gap < open_gap - 0.02  # the jaws really came together
    # Every gripper joint follows the driving joint.
    driven = [s[0] for s in env.unwrapped.sim.client.getJointStates(model.body, model.gripper_indices)]
    np.testing.assert_allclose(driven, np.full(len(driven), model.joint_positions()[-1]), atol=0.02)
    action[-1] = model.gripper.open
    for _ in range(15):
        env.step(action)
    assert model.gripper_closedness() < 0.05
    assert _jaw_gap(env) == pytest.approx(open_gap, abs=0.005)


# -- render-light URDFs ------------------------------------------------------------------------


def _triangles(path: Path) -> int:
    if path.suffix.lower() == ".stl":
        data = path.read_bytes()
        if data[:5] == b"solid" and b"facet" in data[:300]:
            return data.count(b"facet normal")
        return struct.unpack_from("<I", data, 80)[0]
    if path.suffix.lower() == ".dae":  # COLLADA: each <triangles> element says how many it holds
        return sum(int(count) for count in re.findall(r'<triangles[^>]*count="(\d+)"', path.read_text()))
    # OBJ: a face with k vertices is k - 2 triangles.
    return sum(len(line.split()) - 3 for line in path.read_text().splitlines() if line.startswith("f "))


def _visual_cost(urdf: Path) -> tuple[int, int]:
    """(triangles, mesh bytes) of every visual of ``urdf``; a box counts 12 triangles."""
    triangles = size = 0
    for visual in ET.parse(urdf).getroot().iter("visual"):
        mesh = visual.find("geometry/mesh")
        if mesh is None:
            triangles += 12
            continue
        path = Path(mesh.get("filename").removeprefix("package://"))
        path = path if path.is_absolute() else urdf.parent / path
        triangles += _triangles(path)
        size += path.stat().st_size
    return triangles, size


def _joints(urdf: Path) -> list[tuple]:
    result = []
    for joint in ET.parse(urdf).getroot().findall("joint"):
        limit = joint.find("limit")
        origin = joint.find("origin")
        result.append(
            (
                joint.get("name"),
                joint.get("type"),
                joint.find("parent").get("link"),
                joint.find("child").get("link"),
                None if limit is None else dict(limit.attrib),
                None if origin is None else dict(origin.attrib),
            )
        )
    return result


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    """Make the light URDFs anew in a private temp dir instead of reusing the machine-wide cache."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


@pytest.mark.parametrize("robot", ROBOT_NAMES)
def test_light_urdf_keeps_the_joints_and_sheds_the_triangles(fresh_cache, robot):
    original = original_urdf(robot)
    light = Path(render_light_urdf(original))
    assert light.is_relative_to(fresh_cache) and light.exists()
    assert _joints(light) == _joints(original)
    triangles, size = _visual_cost(light)
    original_triangles, original_size = _visual_cost(original)
    assert triangles * 10 < original_triangles and size * 10 < original_size
    # Cached: asking again returns the same file without rewriting it.
    mtime = light.stat().st_mtime_ns
    assert render_light_urdf(original) == str(light) and light.stat().st_mtime_ns == mtime


def test_the_same_urdf_elsewhere_gets_its_own_light_copy(fresh_cache, tmp_path):
    original = load_robot("xarm6").urdf_sources[0]  # as pybullet_data ships it, its meshes beside it
    elsewhere = tmp_path / "elsewhere" / original.parent.name
    shutil.copytree(original.parent, elsewhere, symlinks=True)  # another checkout's pybullet_data, say
    copies = [Path(render_light_urdf(path)) for path in (original, elsewhere / original.name)]
    assert copies[0] != copies[1]
    for copy, root in zip(copies, (original.parent, elsewhere)):
        meshes = [Path(m.get("filename")) for m in ET.parse(copy).getroot().iter("mesh")]
        outside = [m for m in meshes if not (m.is_relative_to(root.resolve()) or m.is_relative_to(copy.parent))]
        assert meshes and not outside  # each copy points only at its own URDF's meshes (or its own lightened ones)


@pytest.mark.parametrize("robot", ROBOT_NAMES)
def test_light_urdf_loads_with_the_same_physics(fresh_cache, robot):
    client = pybullet.connect(pybullet.DIRECT)
    try:
        bodies = [
            pybullet.loadURDF(str(path), useFixedBase=True, physicsClientId=client)
            for path in (original_urdf(robot), render_light_urdf(original_urdf(robot)))
        ]
        count = pybullet.getNumJoints(bodies[0], physicsClientId=client)
        assert pybullet.getNumJoints(bodies[1], physicsClientId=client) == count > 0
        collision_shapes = 0
        for link in range(-1, count):
            infos = [pybullet.getDynamicsInfo(b, link, physicsClientId=client) for b in bodies]
            assert infos[0][:3] == infos[1][:3]  # mass, friction, inertia
            shapes = [pybullet.getCollisionShapeData(b, link, physicsClientId=client) for b in bodies]
            # Same geometry type, size and pose (the mesh paths differ only in how they are written).
            assert [s[2:4] + s[5:] for s in shapes[0]] == [s[2:4] + s[5:] for s in shapes[1]]
            collision_shapes += len(shapes[0])
            if link >= 0:
                joints = [pybullet.getJointInfo(b, link, physicsClientId=client) for b in bodies]
                assert joints[0][:13] == joints[1][:13]
        assert collision_shapes >= 7
    finally:
        pybullet.disconnect(client)
