"""`robostral robots`: the arms the project knows, one description in full, and the check of a new one.

``check`` takes a shipped arm's name or a description file (``cell.yaml``) and reports every problem at
once, each with its file and field: the description against its URDF (joints, limits, tool link,
gripper), meshes, the home pose's tool point in the workspace, and the URDF loaded in the simulator,
whose tool point at home must agree with the description's own kinematics. Exit status: 0 fine,
1 problems found (listed), 2 bad arguments.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from robostral.commands.arguments import ROBOT_HELP

FK_TOLERANCE = 1e-4  # m between the simulator's tool point at home and the description's forward kinematics


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("robots", help="list, show and check robot descriptions", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="the arms the project ships")
    listing.set_defaults(run=list_command)
    show = actions.add_parser("show", help="one description: URDF, joints and limits, tool, gripper, cameras")
    show.add_argument("robot", help=ROBOT_HELP)
    show.set_defaults(run=show_command)
    check = actions.add_parser("check", help="check a description and its URDF; every problem, with file and field")
    check.add_argument("robot", help=ROBOT_HELP)
    check.set_defaults(run=check_command)


def list_command(args: argparse.Namespace) -> int:
    from robots import load_robot, robot_names

    rows = [(name, load_robot(name)) for name in robot_names()]
    width = max(len(name) for name, _ in rows)
    for name, robot in rows:
        print(f"{name:<{width}}  {len(robot.arm_joints)} axes  {robot.summary}")
    return 0


def show_command(args: argparse.Namespace) -> int:
    from robots import RobotError, load_robot

    try:
        robot = load_robot(args.robot)
    except RobotError as error:
        print("\n".join(error.problems), file=sys.stderr)
        return 1
    home = robot.tool_kinematics().tool_points(robot.home)[0]
    gripper = robot.gripper
    print(f"{robot.name}: {robot.summary}")
    print(f"  description  {robot.source}")
    print(f"  URDF         {robot.urdf}")
    print(f"  tool         {robot.tool_link}, offset {list(robot.tool_offset)} m")
    print(f"  home         {list(robot.home)} -> tool point {_point(home)} m")
    print(f"  gripper      {gripper.drive} drives {len(gripper.joints)} joint(s): open {gripper.open}, closed "
          f"{gripper.closed}; jaw {gripper.width(gripper.open):.3f} to {gripper.width(gripper.closed):.3f} m; "
          f"grips by {gripper.grip}")
    print(f"  workspace    {list(robot.workspace.low)} to {list(robot.workspace.high)} m")
    front, wrist = robot.front_camera, robot.wrist_camera
    print(f"  cameras      front at {list(front.eye)} looking at {list(front.target)}, {front.fov} deg; "
          f"wrist {wrist.back} m behind the tool point, {wrist.fov} deg")
    print(f"  {'joint':<22}{'lower':>9}{'upper':>9}{'velocity':>10}{'accel.':>9}{'jerk':>9}")
    for joint in robot.joints:
        print(f"  {joint.name:<22}{joint.lower:>9.4f}{joint.upper:>9.4f}{joint.velocity:>10.3f}"
              f"{joint.acceleration:>9.2f}{joint.jerk:>9.0f}")
    return 0


def check_command(args: argparse.Namespace) -> int:
    from robots import is_path, load_robot
    from robots.check import check_description
    from robots.description import RobotError

    if is_path(args.robot):
        path = args.robot
    else:
        try:
            path = load_robot(args.robot).source
        except RobotError as error:
            print("\n".join(error.problems), file=sys.stderr)
            return 2
    description, problems = check_description(path)
    if description is not None:
        problems += simulator_problems(description)
    if problems:
        print(f"{path}: {len(problems)} problem(s)")
        for problem in problems:
            print(f"  - {problem}")
        return 1
    print(f"{path}: {description.name} is fine: {len(description.arm_joints)} arm joints, tool "
          f"{description.tool_link}, gripper {description.gripper.drive}, loads in the simulator, its kinematics agree")
    return 0


def simulator_problems(description) -> list[str]:
    """The URDF must load in PyBullet, and its tool point at home agree with the description's kinematics."""
    import pybullet

    from sim.robot import Robot
    from sim.simulation import Simulation

    sim = Simulation()
    try:
        robot = Robot(sim, description)
        robot.reset()
        simulated = robot.tool_position() - np.asarray(description.base_position)
    except (pybullet.error, KeyError, OSError) as error:
        return [f"{description.urdf}: the simulator cannot load it: {error}"]
    finally:
        sim.close()
    computed = description.tool_kinematics().tool_points(description.home)[0]
    gap = float(np.linalg.norm(simulated - computed))
    if gap > FK_TOLERANCE:
        return [f"{description.source}: tool: the simulator puts the tool point at home at {_point(simulated)} m, "
                f"the description's kinematics at {_point(computed)} m ({gap * 1000:.1f} mm apart)"]
    return []


def _point(point: np.ndarray) -> str:
    return "(" + ", ".join(f"{value:.3f}" for value in point) + ")"
