"""The joints of a robot's URDF, read with the standard XML parser (no physics engine at run time).

Only what the safety checks need: each joint's type, parent and child links, origin,
axis and limits. Lengths are metres, angles radians, velocities per second.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pybullet_data

from sim.robots import RobotSpec

JOINT_TYPES = ("revolute", "continuous", "prismatic", "fixed")


@dataclass(frozen=True)
class UrdfJoint:
    """One ``<joint>`` element; ``lower``/``upper``/``velocity`` are None where the URDF has no ``<limit>``."""

    name: str
    type: str
    parent: str
    child: str
    xyz: tuple[float, float, float]  # origin in the parent link frame, metres
    rpy: tuple[float, float, float]  # origin rotation, fixed-axis roll, pitch, yaw (radians)
    axis: tuple[float, float, float]  # in the joint frame
    lower: float | None = None
    upper: float | None = None
    velocity: float | None = None


def urdf_path(spec: RobotSpec) -> Path:
    """Where the arm's URDF lies: ``pybullet_data`` ships the models (only its path is used)."""
    return Path(pybullet_data.getDataPath()) / spec.urdf


def read_joints(path: str | Path) -> dict[str, UrdfJoint]:
    """Every top-level joint of the URDF at ``path``, by name (``<transmission>`` joints are not joints)."""
    joints = {}
    for element in ET.parse(path).getroot().findall("joint"):
        name = element.get("name")
        kind = element.get("type")
        if kind not in JOINT_TYPES:
            raise ValueError(f"{path}: joint {name!r} has type {kind!r}; supported types: {', '.join(JOINT_TYPES)}")
        origin = element.find("origin")
        axis = element.find("axis")
        limit = element.find("limit")
        joints[name] = UrdfJoint(
            name=name,
            type=kind,
            parent=element.find("parent").get("link"),
            child=element.find("child").get("link"),
            xyz=_triple(origin, "xyz"),
            rpy=_triple(origin, "rpy"),
            axis=_triple(axis, "xyz", "1 0 0"),  # the URDF default axis
            lower=_number(limit, "lower"),
            upper=_number(limit, "upper"),
            velocity=_number(limit, "velocity"),
        )
    return joints


def _triple(element: ET.Element | None, key: str, default: str = "0 0 0") -> tuple[float, float, float]:
    text = default if element is None else element.get(key, default)
    x, y, z = (float(value) for value in text.split())
    return (x, y, z)


def _number(element: ET.Element | None, key: str) -> float | None:
    text = None if element is None else element.get(key)
    return None if text is None else float(text)
