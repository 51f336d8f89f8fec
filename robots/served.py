"""A URDF served by the cell (``robot_state_publisher``'s ``/robot_description``) checked against a description.

On a real cell the controller's URDF is what the arm is. The supervisor may take its kinematics from
there, but only once it agrees with the description it was configured with: the same chain of joints
from the base to the tool link (types, origins, axes) within ``LENGTH_TOLERANCE`` and
``ANGLE_TOLERANCE``, and position and velocity limits that contain the description's (a description
may narrow the arm's range, never widen it; a gripper described apart from the arm may be missing).
Anything else is a mismatch, each one named.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from robots.description import RobotDescription
from robots.kinematics import ToolKinematics, origin_transform
from robots.urdf import Urdf, UrdfError, UrdfJoint

LENGTH_TOLERANCE = 1e-4  # m
ANGLE_TOLERANCE = 1e-4  # rad
SERVED = Path("the served URDF")  # what problems in it are named by


def served_kinematics(description: RobotDescription, urdf_text: str) -> ToolKinematics:
    """The tool kinematics of the served URDF, if it agrees with ``description``; ValueError listing every mismatch."""
    mismatches, kinematics = compare(description, urdf_text)
    if mismatches:
        raise ValueError(f"the served robot description does not match {description.source}: "
                         + "; ".join(mismatches))
    return kinematics


def compare(description: RobotDescription, urdf_text: str) -> tuple[list[str], ToolKinematics | None]:
    """(every mismatch between the served URDF and ``description``, the served tool kinematics or None)."""
    try:
        served = Urdf.parse(urdf_text, SERVED).joints()
    except UrdfError as error:
        return [str(error)], None
    mismatches = []
    for spec in description.joints:
        joint = served.get(spec.name)
        if joint is None:  # a gripper may be described apart from the arm (its own controller)
            if spec.name in description.arm_joints:
                mismatches.append(f"no joint {spec.name!r}")
            continue
        for key in ("lower", "upper", "velocity"):
            value = getattr(joint, key)
            wider = value is None or (value > getattr(spec, key) + ANGLE_TOLERANCE if key == "lower"
                                      else value < getattr(spec, key) - ANGLE_TOLERANCE)
            if wider:
                mismatches.append(f"{spec.name}: {key} limit {value} does not contain the description's "
                                  f"{getattr(spec, key)}")
    try:
        kinematics = ToolKinematics.from_joints(served.values(), description.tool_link, description.tool_offset,
                                                SERVED)
    except ValueError as error:
        return [*mismatches, str(error)], None
    expected = description.tool_kinematics()
    mismatches += _chain_mismatches(_moving_chain(expected.chain), _moving_chain(kinematics.chain))
    return mismatches, None if mismatches else kinematics


def _moving_chain(chain: tuple[UrdfJoint, ...]) -> list[tuple[UrdfJoint | None, np.ndarray]]:
    """The chain as (moving joint, the fixed transform before it) pairs, and (None, the rest) at the end:
    fixed joints may be split or merged differently (a world link, a base_link-base joint) and mean the same."""
    pairs, transform = [], np.eye(4)
    for joint in chain:
        transform = transform @ origin_transform(joint)
        if joint.type != "fixed":
            pairs.append((joint, transform))
            transform = np.eye(4)
    pairs.append((None, transform))
    return pairs


def _chain_mismatches(expected: list, served: list) -> list[str]:
    names = [joint.name if joint else "the tool link" for joint, _ in expected]
    got = [joint.name if joint else "the tool link" for joint, _ in served]
    if names != got:
        return [f"the joints moving the tool link are {got[:-1]}, not {names[:-1]}"]
    mismatches = []
    for (joint, transform), (other, served_transform) in zip(expected, served):
        where = f"before {joint.name}" if joint else "from the last arm joint to the tool link"
        offset = np.linalg.norm(transform[:3, 3] - served_transform[:3, 3])
        turn = np.abs(transform[:3, :3] - served_transform[:3, :3]).max()
        if offset > LENGTH_TOLERANCE or turn > ANGLE_TOLERANCE:
            mismatches.append(f"the frame {where} differs by {offset * 1000:.2f} mm, {turn:.2g} in rotation")
        turned_axis = joint and np.abs(_unit(joint.axis) - _unit(other.axis)).max() > ANGLE_TOLERANCE
        if joint and (joint.type != other.type or turned_axis):
            mismatches.append(f"{joint.name}: a {other.type} joint about {list(other.axis)}, not a {joint.type} "
                              f"joint about {list(joint.axis)}")
    return mismatches


def _unit(axis: tuple[float, float, float]) -> np.ndarray:
    return np.asarray(axis, dtype=np.float64) / np.linalg.norm(axis)
