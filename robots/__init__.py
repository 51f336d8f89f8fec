"""Robot descriptions as data: any arm from its URDF and a YAML description, no physics engine.

``load_robot("panda")`` reads a description the project ships (``robots/descriptions/``);
``load_robot("path/to/cell.yaml")`` reads a user's. The simulator, the safety checks, export,
the pendant and the ROS nodes all learn about an arm from here.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from robots.description import (
    FrontCamera,
    JointSpec,
    RobotDescription,
    RobotError,
    Workspace,
    WristCamera,
    load_description,
)
from robots.gripper import ParallelJaw
from robots.kinematics import ToolKinematics

DESCRIPTIONS = Path(__file__).with_name("descriptions")
DEFAULT_ROBOT = "panda"  # the arm a command, config or node uses when none is named


@functools.cache  # read once: load_robot asks on every call, and envelope checks call it every control step
def robot_names() -> tuple[str, ...]:
    """The arms the project ships, by name."""
    return tuple(sorted(path.stem for path in DESCRIPTIONS.glob("*.yaml")))


def is_path(robot: str | os.PathLike) -> bool:
    """Whether ``robot`` names a description file (a path) rather than a shipped arm."""
    text = os.fspath(robot)
    return text.endswith((".yaml", ".yml")) or os.sep in text


def load_robot(robot: str | os.PathLike) -> RobotDescription:
    """The description of a shipped arm by name, or of the description file at a path (``cell.yaml``).

    Raises RobotError with every problem found, each naming its file and field.
    """
    if is_path(robot):
        return _load(Path(robot).resolve())
    if robot not in robot_names():
        raise RobotError([f"unknown robot {robot!r}; known robots: {', '.join(robot_names())}, "
                          f"or the path of a description file (cell.yaml)"])
    return _load(DESCRIPTIONS / f"{robot}.yaml")


@functools.lru_cache(maxsize=32)
def _load(path: Path) -> RobotDescription:
    return load_description(path)


__all__ = [
    "DEFAULT_ROBOT",
    "FrontCamera",
    "JointSpec",
    "ParallelJaw",
    "RobotDescription",
    "RobotError",
    "ToolKinematics",
    "Workspace",
    "WristCamera",
    "is_path",
    "load_robot",
    "robot_names",
]
