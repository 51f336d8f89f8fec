"""A robot's URDF read with the standard XML parser: joints, links and the meshes they name (no physics engine).

Only what the descriptions and the safety checks need: each joint's type, parent and child
links, origin, axis and limits, and where each mesh file lies. Lengths are metres, angles
radians, velocities per second.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

JOINT_TYPES = ("revolute", "continuous", "prismatic", "fixed")


class UrdfError(ValueError):
    """A URDF that does not parse, or an element that is missing what it needs; names the file and element."""


@dataclass(frozen=True)
class UrdfJoint:
    """One ``<joint>`` element; ``lower``/``upper``/``velocity``/``effort`` are None where the URDF has none."""

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
    effort: float | None = None


@dataclass(frozen=True)
class Urdf:
    """The parts of one URDF file a description is checked against."""

    path: Path
    root: ET.Element

    @classmethod
    def read(cls, path: str | Path) -> Urdf:
        path = Path(path)
        try:
            return cls.parse(path.read_text(), path)
        except (FileNotFoundError, IsADirectoryError):
            raise UrdfError(f"{path}: no such URDF file") from None

    @classmethod
    def parse(cls, text: str, path: Path) -> Urdf:
        """A URDF from its text; ``path`` is where it came from (what errors name, where meshes are looked up)."""
        try:
            root = ET.fromstring(text)
        except ET.ParseError as error:
            raise UrdfError(f"{path}: not well-formed XML ({error})") from None
        if root.tag != "robot":
            raise UrdfError(f"{path}: the root element is <{root.tag}>, not <robot>")
        return cls(path, root)

    @property
    def links(self) -> tuple[str, ...]:
        return tuple(link.get("name", "") for link in self.root.findall("link"))

    def joints(self) -> dict[str, UrdfJoint]:
        """Every top-level joint, by name (``<transmission>`` joints are not joints)."""
        return {joint.name: joint for joint in (self._joint(element) for element in self.root.findall("joint"))}

    def meshes(self) -> list[tuple[str, str, Path | None]]:
        """(link, filename as written, the file it resolves to or None) for every mesh of every link."""
        found = []
        for link in self.root.findall("link"):
            for mesh in link.iter("mesh"):
                filename = mesh.get("filename", "")
                found.append((link.get("name", ""), filename, resolve_mesh(filename, self.path.parent)))
        return found

    def _joint(self, element: ET.Element) -> UrdfJoint:
        name = element.get("name")
        kind = element.get("type")
        where = f"{self.path}: <joint name={name!r}>"
        if kind not in JOINT_TYPES:
            raise UrdfError(f"{where} has type {kind!r}; supported types: {', '.join(JOINT_TYPES)}")
        parent, child = element.find("parent"), element.find("child")
        if parent is None or child is None or not parent.get("link") or not child.get("link"):
            raise UrdfError(f"{where} needs a <parent link=...> and a <child link=...>")
        origin, axis, limit = element.find("origin"), element.find("axis"), element.find("limit")
        try:
            return UrdfJoint(
                name=name,
                type=kind,
                parent=parent.get("link"),
                child=child.get("link"),
                xyz=_triple(origin, "xyz"),
                rpy=_triple(origin, "rpy"),
                axis=_triple(axis, "xyz", "1 0 0"),  # the URDF default axis
                lower=_number(limit, "lower"),
                upper=_number(limit, "upper"),
                velocity=_number(limit, "velocity"),
                effort=_number(limit, "effort"),
            )
        except ValueError as error:
            raise UrdfError(f"{where}: {error}") from None


def read_joints(path: str | Path) -> dict[str, UrdfJoint]:
    """Every top-level joint of the URDF at ``path``, by name."""
    return Urdf.read(path).joints()


def resolve_mesh(filename: str, urdf_dir: Path, search: tuple[Path, ...] = ()) -> Path | None:
    """The file a mesh ``filename`` names, or None: ``package://NAME/...`` is looked up as a folder NAME
    beside or above the URDF (ROS packages keep ``urdf/`` and ``meshes/`` side by side) and in ``search``;
    ``file://`` and plain paths are taken relative to the URDF's folder."""
    if filename.startswith("package://"):
        package, _, rest = filename[len("package://"):].partition("/")
        roots = [*urdf_dir.parents, urdf_dir, *search]
        for root in roots:
            for candidate in (root / package / rest, root / rest):
                if candidate.is_file():
                    return candidate
        return None
    path = Path(filename[len("file://"):] if filename.startswith("file://") else filename)
    path = path if path.is_absolute() else urdf_dir / path
    return path if path.is_file() else None


def _triple(element: ET.Element | None, key: str, default: str = "0 0 0") -> tuple[float, float, float]:
    text = default if element is None else element.get(key, default)
    values = text.split()
    if len(values) != 3:
        raise ValueError(f"{key}={text!r} is not three numbers")
    x, y, z = (float(value) for value in values)
    return (x, y, z)


def _number(element: ET.Element | None, key: str) -> float | None:
    text = None if element is None else element.get(key)
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"<limit {key}={text!r}> is not a number") from None
