"""Forward kinematics of the tool point from the URDF chain, in numpy (no physics engine).

The chain runs from the URDF's root link (the robot base frame) through every joint to the
arm's tool link; the tool point sits at the description's tool offset in the tool link frame.
Positions are metres in the base frame; joint positions radians (revolute) or metres (prismatic).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from robots.urdf import UrdfJoint, read_joints

_EYE3, _EYE4 = np.eye(3), np.eye(4)


@dataclass(frozen=True)
class ToolKinematics:
    """The joints between base and tool link, and the tool point at ``offset`` in the tool link frame."""

    chain: tuple[UrdfJoint, ...]  # base to tool link
    offset: tuple[float, float, float]

    @classmethod
    def from_urdf(cls, path: str | Path, tool_link: str, offset: tuple[float, float, float]) -> ToolKinematics:
        """Walk from ``tool_link`` up to the root link of the URDF at ``path``."""
        return cls.from_joints(read_joints(path).values(), tool_link, offset, path)

    @classmethod
    def from_joints(cls, joints, tool_link: str, offset: tuple[float, float, float],
                    path: str | Path = "the URDF") -> ToolKinematics:
        """Walk from ``tool_link`` up to the root link through ``joints`` (a URDF's)."""
        by_child = {joint.child: joint for joint in joints}
        if tool_link not in by_child:
            raise ValueError(f"{path}: no joint leads to the tool link {tool_link!r}")
        chain = []
        link = tool_link
        while link in by_child:
            if len(chain) > len(by_child):
                raise ValueError(f"{path}: the joints above the tool link {tool_link!r} form a loop")
            chain.append(by_child[link])
            link = by_child[link].parent
        return cls(chain=tuple(reversed(chain)), offset=offset)

    @property
    def joint_names(self) -> tuple[str, ...]:
        """The moving joints of the chain, base to tool: the positions ``tool_points`` takes, in order."""
        return tuple(joint.name for joint in self.chain if joint.type != "fixed")

    def __post_init__(self) -> None:
        # Per joint, what does not depend on its position, computed once (tool_points runs on every command):
        # its origin frame in the parent link, and for a moving joint its unit axis and that axis' cross-product
        # matrix K and K @ K (Rodrigues' formula).
        object.__setattr__(self, "_frames", tuple(
            (origin_transform(joint), *(_axis_terms(joint) if joint.type != "fixed" else (None, None, None)))
            for joint in self.chain))

    def tool_points(self, positions: np.ndarray) -> np.ndarray:
        """Tool points (n, 3), metres, base frame, of joint positions (n, len(joint_names))."""
        positions = np.atleast_2d(np.asarray(positions, dtype=np.float64))
        transform = np.broadcast_to(_EYE4, (len(positions), 4, 4))
        moving = iter(positions.T)
        for joint, (origin, axis, skew, skew2) in zip(self.chain, self._frames):
            transform = transform @ origin
            if joint.type != "fixed":
                transform = transform @ _motion(joint.type, axis, skew, skew2, next(moving))
        return transform[:, :3, :3] @ np.asarray(self.offset) + transform[:, :3, 3]


def origin_transform(joint: UrdfJoint) -> np.ndarray:
    """The joint frame in its parent link frame: translate by xyz, rotate by fixed-axis rpy."""
    roll, pitch, yaw = joint.rpy
    about = [_rotation(*_skews(np.eye(3)[i]), np.array([angle]))[0] for i, angle in ((2, yaw), (1, pitch), (0, roll))]
    transform = np.eye(4)
    transform[:3, :3] = about[0] @ about[1] @ about[2]
    transform[:3, 3] = joint.xyz
    return transform


def _axis_terms(joint: UrdfJoint) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The joint's unit axis, its cross-product matrix K and K @ K."""
    axis = np.asarray(joint.axis, dtype=np.float64) / np.linalg.norm(joint.axis)
    return (axis, *_skews(axis))


def _skews(axis: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The cross-product matrix K of a unit ``axis``, and K @ K."""
    x, y, z = axis
    skew = np.array([[0.0, -z, y], [z, 0.0, -x], [-y, x, 0.0]])
    return skew, skew @ skew


def _motion(kind: str, axis: np.ndarray, skew: np.ndarray, skew2: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """The child link frame in the joint frame (n, 4, 4) for joint positions (n,) of a ``kind`` joint."""
    transform = np.broadcast_to(_EYE4, (len(positions), 4, 4)).copy()
    if kind == "prismatic":
        transform[:, :3, 3] = positions[:, None] * axis
    else:
        transform[:, :3, :3] = _rotation(skew, skew2, positions)
    return transform


def _rotation(skew: np.ndarray, skew2: np.ndarray, angles: np.ndarray) -> np.ndarray:
    """Rotations (n, 3, 3) by ``angles`` (n,) about the axis whose K and K @ K these are (Rodrigues' formula)."""
    sin = np.sin(angles)[:, None, None]
    cos = np.cos(angles)[:, None, None]
    return _EYE3 + sin * skew + (1.0 - cos) * skew2
