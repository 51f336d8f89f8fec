"""Check a description all the way: what loading checks, and what a cell needs besides (meshes, home pose).

``check_description`` reports every problem at once, each with its file and field or element, so that a
user can fix a description and its URDF in one pass. Loading it in the physics engine is the simulator's
part (``robostral robots check`` does both).
"""

from __future__ import annotations

import os
from pathlib import Path

from robots.description import RobotDescription, RobotError, load_description
from robots.urdf import Urdf, UrdfError


def check_description(path: str | os.PathLike) -> tuple[RobotDescription | None, list[str]]:
    """(the description, or None where it does not load; every problem found)."""
    path = Path(path)
    try:
        description = load_description(path)
    except RobotError as error:
        return None, error.problems
    meshes = [problem for source in description.urdf_sources for problem in mesh_problems(source)]
    return description, [*meshes, *home_problems(description)]


def mesh_problems(urdf_path: Path) -> list[str]:
    """A mesh file a link names that does not resolve (``package://``, relative or absolute)."""
    try:
        meshes = Urdf.read(urdf_path).meshes()
    except UrdfError as error:
        return [str(error)]
    return [f"{urdf_path}: <link name={link!r}>: mesh {filename!r} not found"
            for link, filename, resolved in meshes if resolved is None]


def home_problems(description: RobotDescription) -> list[str]:
    """The tool point of the home pose must lie in the workspace box (the arm starts there)."""
    point = description.tool_kinematics().tool_points(description.home)[0]
    if description.workspace.contains(point):
        return []
    where = ", ".join(f"{value:.3f}" for value in point)
    box = description.workspace
    return [f"{description.source}: arm.home: the tool point ({where}) m is outside the workspace box "
            f"{list(box.low)} to {list(box.high)}"]
