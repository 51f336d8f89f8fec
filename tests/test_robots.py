"""Robot descriptions as data (``robots``): the shipped arms, a user's cell.yaml, and every way one can be wrong.

Bad input is refused with a message naming the file and the field or element, all problems at once.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from robots import DESCRIPTIONS, RobotError, load_robot, robot_names
from robots.check import check_description
from robots.served import compare, served_kinematics
from robots.urdf import read_joints

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", ["panda", "xarm6"])
def test_a_shipped_description_matches_its_urdf_and_checks_clean(name):
    robot = load_robot(name)
    urdf = read_joints(robot.urdf)
    assert robot.joint_names == (*robot.arm_joints, robot.gripper.drive)
    for joint in robot.joints:  # position and velocity are the URDF's, acceleration and jerk the description's
        assert (joint.lower, joint.upper, joint.velocity) == (urdf[joint.name].lower, urdf[joint.name].upper,
                                                              urdf[joint.name].velocity)
        assert joint.acceleration > 0 and joint.jerk > 0
    assert robot.home_positions[-1] == robot.gripper.open
    description, problems = check_description(robot.source)
    assert description == robot and problems == []


def test_the_shipped_arms_are_listed_by_name():
    assert set(robot_names()) >= {"panda", "xarm6"}
    assert {path.stem for path in DESCRIPTIONS.glob("*.yaml")} == set(robot_names())
    with pytest.raises(RobotError, match="unknown robot 'kuka'; known robots: panda, "):
        load_robot("kuka")


def test_the_xarm_width_table_follows_its_linkage():
    """The table in xarm6.yaml samples the four-bar geometry: between rows, within 0.05 mm of it."""
    gripper = load_robot("xarm6").gripper
    y, z = 0.035465, 0.042039  # the finger joint in the outer knuckle frame (URDF)
    for angle in np.linspace(0.0, 0.85, 69):
        gap = 2 * (0.035 - 0.026 + y * np.cos(angle) - z * np.sin(angle))
        assert gripper.position_for_width(gap) == pytest.approx(angle, abs=0.002)
        assert gripper.width(angle) == pytest.approx(gap, abs=5e-5)
    assert gripper.holding(0.04) == pytest.approx(gripper.closedness(gripper.position_for_width(0.039)))
    assert load_robot("panda").gripper.holding(0.04) == 1.0  # prismatic fingers close fully


def cell(tmp_path: Path, **changes) -> Path:
    """A user's cell.yaml: the Panda's description with its URDF copied beside it, ``changes`` applied."""
    panda = load_robot("panda")
    urdf = panda.urdf_sources[0]  # pybullet_data's (panda.urdf is its copy with the meshes resolved)
    shutil.copytree(urdf.parent, tmp_path / "arm")
    document = yaml.safe_load(panda.source.read_text())
    document["urdf"] = {"path": f"arm/{urdf.name}"}
    document["name"] = "my_arm"
    for dotted, value in changes.items():
        *parents, key = dotted.split(".")
        target = document
        for parent in parents:
            target = target[parent]
        if value is None:
            del target[key]
        else:
            target[key] = value
    path = tmp_path / "cell.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def test_a_cell_yaml_with_its_own_urdf_loads_like_a_shipped_arm(tmp_path):
    path = cell(tmp_path)
    robot = load_robot(str(path))
    assert robot.name == "my_arm" and robot.urdf_sources == (tmp_path / "arm" / "panda.urdf",)
    assert robot.joints == load_robot("panda").joints
    np.testing.assert_allclose(robot.tool_kinematics().tool_points(robot.home),
                               load_robot("panda").tool_kinematics().tool_points(robot.home))


def test_every_problem_is_reported_at_once_with_its_file_and_field(tmp_path):
    path = cell(tmp_path, **{"arm.home": [0.0] * 6, "tool.link": "flange", "gripper.widths": [[0.08, 0.04]],
                              "limits.panda_joint3": None, "workspace.low": [0, 0], "colour": "red"})
    with pytest.raises(RobotError) as caught:
        load_robot(str(path))
    problems = caught.value.problems
    expected = ["colour: unknown key", "arm.home: must be a list of 7 numbers", "tool.link: no link 'flange'",
                "gripper.widths: must list two or more", "limits.panda_joint3.acceleration: missing",
                "limits.panda_joint3.jerk: missing",
                "workspace.low: must be a list of 3 numbers"]
    for text in expected:
        assert any(problem.startswith(f"{path}: ") and text in problem for problem in problems), (text, problems)
    assert len(problems) == len(expected), problems


def test_a_joint_without_limits_in_the_urdf_is_named_with_the_file(tmp_path):
    path = cell(tmp_path)
    urdf = tmp_path / "arm" / "panda.urdf"
    text = urdf.read_text()
    joint4 = text.index('<joint name="panda_joint4"')
    limit = text.index("<limit", joint4)
    urdf.write_text(text[:limit] + text[text.index("/>", limit) + 2:])
    with pytest.raises(RobotError, match=re.escape(f"limits.panda_joint4.lower: missing (the URDF {urdf} has none")):
        load_robot(str(path))


@pytest.mark.parametrize("damage,message", [
    (lambda text: text.replace("</robot>", ""), "not well-formed XML"),
    (lambda text: text.replace('type="revolute"', 'type="spherical"', 1), "has type 'spherical'"),
])
def test_a_urdf_that_does_not_parse_is_refused_naming_the_file_and_element(tmp_path, damage, message):
    path = cell(tmp_path)
    urdf = tmp_path / "arm" / "panda.urdf"
    urdf.write_text(damage(urdf.read_text()))
    with pytest.raises(RobotError, match=re.escape(str(urdf))) as caught:
        load_robot(str(path))
    assert message in str(caught.value)


def test_check_finds_missing_meshes_and_a_home_pose_outside_the_workspace(tmp_path):
    path = cell(tmp_path, **{"workspace.high": [0.3, 0.85, 1.2]})  # the Panda's home tool point is at x = 0.46 m
    mesh = next((tmp_path / "arm").rglob("link3.obj"), None) or next((tmp_path / "arm").rglob("*.obj"))
    mesh.unlink()
    description, problems = check_description(path)
    assert description is not None
    assert any("mesh" in p and mesh.name in p and "not found" in p for p in problems), problems
    assert any(p.startswith(f"{path}: arm.home: the tool point") and "outside the workspace box" in p
               for p in problems), problems


def robostral(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "robostral.cli", "robots", *args], capture_output=True, text=True,
                          timeout=300, cwd=REPO)


def test_the_robots_command_lists_shows_and_checks(tmp_path):
    listing = robostral("list")
    assert listing.returncode == 0 and "panda" in listing.stdout and "xarm6" in listing.stdout
    show = robostral("show", "xarm6")
    assert show.returncode == 0 and "grips by width" in show.stdout and "drive_joint" in show.stdout
    good = robostral("check", str(cell(tmp_path / "good")))
    assert good.returncode == 0, good.stdout + good.stderr
    assert "loads in the simulator, its kinematics agree" in good.stdout
    bad = cell(tmp_path / "bad", **{"tool.offset": [0, 0, "far"], "gripper.grip": "squeeze"})
    checked = robostral("check", str(bad))
    assert checked.returncode == 1
    assert f"{bad}: 2 problem(s)" in checked.stdout
    assert "tool.offset[2]: must be a finite number, got 'far'" in checked.stdout
    assert "gripper.grip: must be one of close, width, got 'squeeze'" in checked.stdout
    assert robostral("show", "kuka").returncode == 1


def test_the_modules_that_run_on_a_cell_load_no_physics_engine():
    """As the import contract says, at run time too: sim's own package import loads nothing."""
    code = ("import sys, robots, robostral.safety, robostral.runtime, robostral.pendant.motion.planner, "
            "robostral.ros.from_bag, sim.config, sim.language, sim.proprio\n"
            "print(sorted(m for m in ('pybullet', 'gymnasium', 'sim.robot') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_an_arm_the_project_does_not_ship_is_checked_and_does_a_scripted_reach(tmp_path):
    """example-robot-data's UR10 with the project's gripper, from a cell.yaml written here: any arm is data."""
    document = yaml.safe_load(load_robot("ur5").source.read_text())
    document["name"] = "ur10_cell"
    document["urdf"]["path"] = "ur_description/urdf/ur10_robot.urdf"
    document["urdf"]["attach"][0]["path"] = str(DESCRIPTIONS / "grippers" / "parallel_jaw.urdf")
    path = tmp_path / "cell.yaml"
    path.write_text(yaml.safe_dump(document))
    checked = robostral("check", str(path))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    ur10 = load_robot(str(path))
    assert ur10.urdf_sources[0].name == "ur10_robot.urdf"
    assert read_joints(ur10.urdf_sources[0])["elbow_joint"].xyz != read_joints(load_robot("ur5").urdf_sources[0])[
        "elbow_joint"].xyz  # another arm indeed: its links are longer
    reach = subprocess.run([sys.executable, "-m", "robostral.cli", "sim", "--task", "reach", "--robot", str(path),
                            "--episodes", "3", "--json"], capture_output=True, text=True, timeout=300, cwd=REPO)
    assert reach.returncode == 0, reach.stderr
    report = json.loads(reach.stdout)
    assert report["robot"] == str(path) and report["success_rate"] == 1.0


def test_a_served_urdf_matches_its_description_or_every_mismatch_is_named():
    """robot_state_publisher's URDF against the description (robots.served): what the supervisor checks."""
    ur5 = load_robot("ur5")
    composed, arm = ur5.urdf.read_text(), ur5.urdf_sources[0].read_text()
    assert compare(ur5, composed)[0] == [] and compare(ur5, arm)[0] == []  # the gripper may be described apart
    kinematics = served_kinematics(ur5, arm)
    np.testing.assert_allclose(kinematics.tool_points(ur5.home), ur5.tool_kinematics().tool_points(ur5.home),
                               atol=1e-9)
    wider = arm.replace('lower="-3.14159265359" upper="3.14159265359"', 'lower="-3.2" upper="3.2"')
    assert compare(ur5, wider)[0] == []  # the description may narrow the arm's range
    turned = arm.replace('<axis xyz="0 1 0"/>', '<axis xyz="0 0 1"/>', 1)
    assert any("a revolute joint about [0.0, 0.0, 1.0], not a revolute joint about [0.0, 1.0, 0.0]" in m
               for m in compare(ur5, turned)[0])
    with pytest.raises(ValueError, match="no joint 'panda_joint1'.*no joint 'panda_joint7'"):
        served_kinematics(load_robot("panda"), arm)
    with pytest.raises(ValueError, match="the served URDF: not well-formed XML"):
        served_kinematics(ur5, "<robot")


@pytest.mark.parametrize("changes,message", [
    ({"arm.home": [0.0, -0.3, 0.0, -2.2, 0.0, 1.9, 9.0]}, "arm.home: panda_joint7 at 9.0 is outside its limits"),
    ({"gripper.open": 0.5}, "gripper.open: 0.5 is outside panda_finger_joint1's limits [0.0, 0.04]"),
    ({"gripper.widths": [[0.08, 0.04], [0.0, 0.0]]}, "gripper.widths: widths must increase from row to row"),
    ({"gripper.joints": ["panda_finger_joint1", "finger_3"]}, "gripper.joints: no joint 'finger_3' in"),
    ({"limits.panda_joint1": {"acceleration": 15.0, "jerk": -1}}, "limits.panda_joint1.jerk: must be > 0, got -1"),
    ({"urdf": {"package": "ros", "path": "x.urdf"}}, "urdf.package: unknown package 'ros'"),
])
def test_a_value_the_arm_cannot_take_is_refused_by_field(tmp_path, changes, message):
    with pytest.raises(RobotError, match=re.escape(message)):
        load_robot(str(cell(tmp_path, **changes)))
