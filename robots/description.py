"""One arm described as data: its URDF, joints, tool, gripper, home pose, limits, cameras and workspace.

A description is a YAML file (``robots/descriptions/<name>.yaml`` for the arms the project ships,
or a user's ``cell.yaml`` anywhere). Loading it reads the URDF with the XML parser and checks the
two against each other; every problem is reported at once, each with its file and field, and
nothing is returned half-checked. Units: metres, radians (metres for prismatic joints), seconds.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from robots.compose import Attachment, compose, needs_composing
from robots.gripper import GRIPS, ParallelJaw
from robots.kinematics import ToolKinematics
from robots.urdf import Urdf, UrdfError, UrdfJoint

SOURCES = ("pybullet_data", "example-robot-data")
"""Packages a URDF may come from (``urdf.package``); without one, ``urdf.path`` is a file path
relative to the description."""


class RobotError(ValueError):
    """A description that cannot be used: every problem found, each naming its file and field."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class JointSpec:
    """One commanded joint's limits: position, velocity, acceleration and jerk (per second, squared, cubed)."""

    name: str
    lower: float
    upper: float
    velocity: float
    acceleration: float
    jerk: float


@dataclass(frozen=True)
class FrontCamera:
    """A fixed camera in the world frame, looking from ``eye`` at ``target``; ``fov`` vertical, degrees."""

    eye: tuple[float, float, float] = (0.9, 0.0, 0.8)
    target: tuple[float, float, float] = (0.44, 0.0, 0.0)
    fov: float = 45.0
    near: float = 0.05
    far: float = 3.0


@dataclass(frozen=True)
class WristCamera:
    """A camera on the tool, looking along the tool's z axis: ``back`` metres behind the tool point along
    it, ``side`` along the tool's x axis (its image's up), aimed ``ahead`` metres past the tool point."""

    back: float = 0.12
    side: float = 0.05
    ahead: float = 0.2
    fov: float = 70.0
    near: float = 0.01
    far: float = 1.5


@dataclass(frozen=True)
class Workspace:
    """An axis-aligned box the tool point must stay in: metres, robot base frame."""

    low: tuple[float, float, float] = (-0.85, -0.85, 0.005)  # 5 mm above the table
    high: tuple[float, float, float] = (0.85, 0.85, 1.2)

    def __post_init__(self) -> None:
        object.__setattr__(self, "low", tuple(self.low))  # YAML gives lists
        object.__setattr__(self, "high", tuple(self.high))
        if len(self.low) != 3 or len(self.high) != 3:
            raise ValueError(f"the workspace's low and high must be 3 numbers (x, y, z), got {self.low}, {self.high}")
        if not all(math.isfinite(a) and math.isfinite(b) and a < b for a, b in zip(self.low, self.high)):
            raise ValueError(f"the workspace's low must be finite and below high on each axis, got {self.low}, "
                             f"{self.high}")

    def contains(self, points: np.ndarray) -> np.ndarray:
        """Whether each point of ``points`` (..., 3) lies in the box, borders included."""
        return np.all((points >= self.low) & (points <= self.high), axis=-1)


@dataclass(frozen=True)
class RobotDescription:
    """Everything the project needs to know of an arm; what is not here (masses, meshes, efforts) is the URDF's."""

    name: str
    source: Path  # the description's YAML file
    urdf: Path  # the URDF everything reads: the source URDF, or its composed copy (parts attached, meshes resolved)
    urdf_sources: tuple[Path, ...]  # the URDF files as written: the arm's, then each attached part's
    arm_joints: tuple[str, ...]
    home: tuple[float, ...]  # arm joint positions
    tool_link: str
    tool_offset: tuple[float, float, float]  # the tool point in the tool link frame
    gripper: ParallelJaw
    joints: tuple[JointSpec, ...]  # the arm joints, then the gripper's drive: the order of every command
    front_camera: FrontCamera
    wrist_camera: WristCamera
    workspace: Workspace
    base_position: tuple[float, float, float] = (0.0, 0.0, 0.0)
    summary: str = ""

    @property
    def joint_names(self) -> tuple[str, ...]:
        """The arm joints then the gripper's drive: the order of actions, proprio and commands."""
        return tuple(joint.name for joint in self.joints)

    @property
    def home_positions(self) -> np.ndarray:
        """The home pose with the gripper open, in ``joint_names`` order."""
        return np.array([*self.home, self.gripper.open])

    def tool_kinematics(self) -> ToolKinematics:
        """Forward kinematics of the tool point from the URDF chain (no physics engine)."""
        return ToolKinematics.from_urdf(self.urdf, self.tool_link, self.tool_offset)


def load_description(path: str | os.PathLike) -> RobotDescription:
    """The description in the YAML file at ``path``, checked against its URDF; RobotError lists every problem."""
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise RobotError([f"{path}: no such robot description"]) from None
    except yaml.YAMLError as error:
        raise RobotError([f"{path}: not YAML ({error})"]) from None
    reader = _Reader(path, document)
    description = reader.description()
    if reader.problems:
        raise RobotError(reader.problems)
    return description


class _Reader:
    """Reads one description, collecting every problem instead of stopping at the first."""

    def __init__(self, path: Path, document: Any) -> None:
        self.path = path
        self.document = document if isinstance(document, dict) else {}
        self.problems: list[str] = [] if isinstance(document, dict) else [
            f"{path}: expected a mapping of description keys, got {type(document).__name__}"]

    def problem(self, field: str, message: str) -> None:
        self.problems.append(f"{self.path}: {field}: {message}")

    # -- typed values -------------------------------------------------------------------------------------
    def get(self, field: str, default: Any = ...) -> Any:
        """The value at dotted ``field`` of the document; a ``default`` of ``...`` means required."""
        value: Any = self.document
        for key in field.split("."):
            if not isinstance(value, dict) or key not in value:
                if default is ...:
                    self.problem(field, "missing")
                return None if default is ... else default
            value = value[key]
        return value

    def number(self, field: str, value: Any, positive: bool = False) -> float | None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            self.problem(field, f"must be a finite number, got {value!r}")
            return None
        if positive and value <= 0:
            self.problem(field, f"must be > 0, got {value!r}")
            return None
        return float(value)

    def numbers(self, field: str, value: Any, length: int | None = None) -> tuple[float, ...] | None:
        if not isinstance(value, (list, tuple)) or (length is not None and len(value) != length):
            self.problem(field, f"must be a list of {length or 'some'} numbers, got {value!r}")
            return None
        values = [self.number(f"{field}[{i}]", v) for i, v in enumerate(value)]
        return None if None in values else tuple(values)

    def names(self, field: str, value: Any) -> tuple[str, ...] | None:
        if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
            self.problem(field, f"must be a list of joint names, got {value!r}")
            return None
        if len(set(value)) != len(value):
            self.problem(field, f"names a joint twice: {value}")
            return None
        return tuple(value)

    # -- the description ------------------------------------------------------------------------------------
    def description(self) -> RobotDescription | None:
        unknown = set(self.document) - {"name", "summary", "urdf", "base_position", "arm", "tool", "gripper",
                                         "limits", "cameras", "workspace"}
        for key in sorted(unknown):
            self.problem(key, "unknown key")
        name = self.get("name")
        if name is not None and not (isinstance(name, str) and name.replace("_", "").replace("-", "").isalnum()):
            self.problem("name", f"must be a word (letters, digits, - and _), got {name!r}")
        urdf, sources = self.urdf()
        arm = self.names("arm.joints", self.get("arm.joints"))
        home = self.numbers("arm.home", self.get("arm.home"), len(arm) if arm else None)
        tool_link = self.get("tool.link")
        tool_offset = self.numbers("tool.offset", self.get("tool.offset", [0.0, 0.0, 0.0]), 3)
        gripper = self.gripper()
        base = self.numbers("base_position", self.get("base_position", [0.0, 0.0, 0.0]), 3)
        cameras = self.cameras()
        workspace = self.workspace()
        if urdf is None:
            return None
        found = self.source_joints(sources)
        if found is None:
            return None
        joints = self.joint_specs(found, arm, gripper)
        if arm and tool_link:
            self.tool_chain(urdf, sources, arm, tool_link)
        if home and joints:
            for joint, q in zip(joints, home):
                if not joint.lower <= q <= joint.upper:
                    self.problem("arm.home", f"{joint.name} at {q} is outside its limits [{joint.lower}, "
                                             f"{joint.upper}]")
        if gripper and joints:
            drive = joints[-1]
            for key in ("open", "closed"):
                if not drive.lower <= getattr(gripper, key) <= drive.upper:
                    self.problem(f"gripper.{key}", f"{getattr(gripper, key)} is outside {drive.name}'s limits "
                                                   f"[{drive.lower}, {drive.upper}]")
        if self.problems:
            return None
        return RobotDescription(
            name=name, source=self.path, urdf=urdf.path, urdf_sources=sources, arm_joints=arm, home=home,
            tool_link=tool_link, tool_offset=tool_offset, gripper=gripper, joints=joints, front_camera=cameras[0],
            wrist_camera=cameras[1], workspace=workspace, base_position=base,
            summary=str(self.get("summary", "")),
        )

    def urdf(self) -> tuple[Urdf | None, tuple[Path, ...]]:
        """The URDF to read (composed where parts are attached or meshes are ``package://``), and its sources."""
        package, relative = self.get("urdf.package", None), self.get("urdf.path")
        if relative is None:
            return None, ()
        if package is None:
            path = self.path.parent / relative
        elif package in SOURCES:
            path = package_root(package) / relative
        else:
            self.problem("urdf.package", f"unknown package {package!r}; one of {', '.join(SOURCES)}, or none "
                                         f"for a path relative to this file")
            return None, ()
        attachments = self.attachments()
        if attachments is None:
            return None, ()
        sources = (path, *(a.urdf for a in attachments))
        try:
            for source in sources:
                Urdf.read(source)  # a clear error for a missing or broken file, named as written
            return Urdf.read(compose(path, attachments) if needs_composing(path, attachments) else path), sources
        except UrdfError as error:
            self.problem("urdf", str(error))
            return None, ()

    def attachments(self) -> tuple[Attachment, ...] | None:
        """``urdf.attach``: parts (a gripper) joined to the arm's links, each URDF relative to this file."""
        given = self.get("urdf.attach", [])
        if not isinstance(given, list):
            self.problem("urdf.attach", f"must be a list of parts (path, parent, xyz, rpy), got {given!r}")
            return None
        parts = []
        for i, part in enumerate(given):
            field = f"urdf.attach[{i}]"
            if not isinstance(part, dict) or not isinstance(part.get("path"), str) or not part.get("parent"):
                self.problem(field, f"needs a path (a URDF, relative to this file) and a parent link, got {part!r}")
                continue
            for key in sorted(set(part) - {"path", "parent", "xyz", "rpy"}):
                self.problem(f"{field}.{key}", "unknown key")
            xyz = self.numbers(f"{field}.xyz", part.get("xyz", [0.0, 0.0, 0.0]), 3)
            rpy = self.numbers(f"{field}.rpy", part.get("rpy", [0.0, 0.0, 0.0]), 3)
            if xyz is not None and rpy is not None:
                parts.append(Attachment(self.path.parent / part["path"], str(part["parent"]), xyz, rpy))
        return tuple(parts) if len(parts) == len(given) else None

    def gripper(self) -> ParallelJaw | None:
        joints = self.names("gripper.joints", self.get("gripper.joints"))
        opened = self.number("gripper.open", self.get("gripper.open"))
        closed = self.number("gripper.closed", self.get("gripper.closed"))
        widths = self.get("gripper.widths")
        grip = self.get("gripper.grip", "close")
        squeeze = self.number("gripper.squeeze", self.get("gripper.squeeze", 0.0))
        friction = self.number("gripper.friction", self.get("gripper.friction", 1.5), positive=True)
        table = None
        if not isinstance(widths, list) or len(widths) < 2:
            self.problem("gripper.widths", f"must list two or more [width, drive position] pairs, got {widths!r}")
        else:
            rows = [self.numbers(f"gripper.widths[{i}]", row, 2) for i, row in enumerate(widths)]
            if None not in rows:
                table = tuple(rows)
                if any(b[0] <= a[0] for a, b in zip(table, table[1:])):
                    self.problem("gripper.widths", "widths must increase from row to row")
                    table = None
        if grip not in GRIPS:
            self.problem("gripper.grip", f"must be one of {', '.join(GRIPS)}, got {grip!r}")
        if opened is not None and opened == closed:
            self.problem("gripper.closed", "must differ from gripper.open")
        if None in (joints, opened, closed, table, squeeze, friction) or grip not in GRIPS or opened == closed:
            return None
        return ParallelJaw(joints, opened, closed, table, grip, squeeze, friction)

    def cameras(self) -> tuple[FrontCamera, WristCamera]:
        mounts = []
        for key, cls in (("front", FrontCamera), ("wrist", WristCamera)):
            given = self.get(f"cameras.{key}", {})
            values = {}
            for name, default in vars(cls()).items():
                value = given.get(name, default) if isinstance(given, dict) else default
                values[name] = (self.numbers(f"cameras.{key}.{name}", value, 3) if isinstance(default, tuple)
                                else self.number(f"cameras.{key}.{name}", value, positive=True))
            for name in sorted(set(given) - set(values)) if isinstance(given, dict) else []:
                self.problem(f"cameras.{key}.{name}", "unknown key")
            mounts.append(cls(**{k: v for k, v in values.items() if v is not None}))
        return mounts[0], mounts[1]

    def workspace(self) -> Workspace | None:
        low = self.numbers("workspace.low", self.get("workspace.low"), 3)
        high = self.numbers("workspace.high", self.get("workspace.high"), 3)
        if low is None or high is None:
            return None
        try:
            return Workspace(low, high)
        except ValueError as error:
            self.problem("workspace", str(error))
            return None

    def source_joints(self, sources: tuple[Path, ...]) -> dict[str, tuple[UrdfJoint, Path]] | None:
        """Every joint of the URDFs as written, with the file it is in (what a problem names)."""
        found = {}
        for source in sources:
            try:
                found.update({name: (joint, source) for name, joint in Urdf.read(source).joints().items()})
            except UrdfError as error:
                self.problem("urdf", str(error))
                return None
        return found

    def joint_specs(self, found: dict[str, tuple[UrdfJoint, Path]], arm: tuple[str, ...] | None,
                    gripper: ParallelJaw | None) -> tuple[JointSpec, ...] | None:
        """The commanded joints' limits: position and velocity from the URDF unless ``limits`` overrides them,
        acceleration and jerk from ``limits`` (a URDF has none)."""
        files = ", ".join(str(path) for path in dict.fromkeys(path for _, path in found.values()))
        limits = self.get("limits", {})
        if not isinstance(limits, dict):
            self.problem("limits", f"must map joint names to their limits, got {limits!r}")
            limits = {}
        for name in limits:
            if name not in found:
                self.problem(f"limits.{name}", f"no such joint in {files}")
        if gripper:
            for name in gripper.joints:
                if name not in found:
                    self.problem("gripper.joints", f"no joint {name!r} in {files}")
        names = (*(arm or ()), *(gripper.joints[:1] if gripper else ()))
        specs = []
        for name in names:
            if name not in found:
                if arm and name in arm:
                    self.problem("arm.joints", f"no joint {name!r} in {files}")
                continue
            joint, source = found[name]
            specs.append(self.joint_spec(joint, limits.get(name, {}), source))
        return None if None in specs or len(specs) != len(names) else tuple(specs)

    def joint_spec(self, joint: UrdfJoint, given: Any, urdf: Path) -> JointSpec | None:
        field = f"limits.{joint.name}"
        if joint.type not in ("revolute", "prismatic"):
            self.problem(field, f"{urdf}: joint {joint.name!r} is {joint.type}; a commanded joint must be revolute "
                                f"or prismatic (with position limits)")
            return None
        given = given if isinstance(given, dict) else {}
        for key in sorted(set(given) - {"lower", "upper", "velocity", "acceleration", "jerk"}):
            self.problem(f"{field}.{key}", "unknown key")
        values = {}
        for key in ("lower", "upper", "velocity", "acceleration", "jerk"):
            value = given.get(key, getattr(joint, key, None))
            if value is None:
                self.problem(f"{field}.{key}", f"missing (the URDF {urdf} has none for {joint.name!r})"
                             if key in ("lower", "upper", "velocity") else "missing (a URDF has none: give it here)")
                continue
            values[key] = self.number(f"{field}.{key}", value, positive=key not in ("lower", "upper"))
        if None in values.values() or len(values) != 5:
            return None
        if values["lower"] >= values["upper"]:
            self.problem(field, f"lower {values['lower']} must be below upper {values['upper']}")
            return None
        return JointSpec(joint.name, **values)

    def tool_chain(self, urdf: Urdf, sources: tuple[Path, ...], arm: tuple[str, ...], tool_link: str) -> None:
        """The tool link must hang below exactly the arm joints, in their order."""
        files = ", ".join(map(str, sources))
        if tool_link not in urdf.links:
            self.problem("tool.link", f"no link {tool_link!r} in {files}")
            return
        try:
            kinematics = ToolKinematics.from_joints(urdf.joints().values(), tool_link, (0.0, 0.0, 0.0), files)
        except (UrdfError, ValueError) as error:
            self.problem("tool.link", str(error))
            return
        if kinematics.joint_names != arm:
            self.problem("tool.link", f"the joints moving {tool_link!r} are {list(kinematics.joint_names)}, "
                                      f"not arm.joints {list(arm)}")


def package_root(package: str) -> Path:
    """Where a URDF package's files lie (only the path is read: nothing is imported that runs a simulator)."""
    if package == "pybullet_data":
        import pybullet_data  # a data folder with an __init__: no physics engine

        return Path(pybullet_data.getDataPath())
    # example-robot-data is a cmeel wheel: its files lie under site-packages/cmeel.prefix/share/.
    import site
    import sys

    roots = [Path(p) / "cmeel.prefix" for p in site.getsitepackages()] + [Path(sys.prefix)]
    candidates = [root / "share" / "example-robot-data" / "robots" for root in roots]
    return next((path for path in candidates if path.is_dir()), candidates[0])  # reported missing with its path
