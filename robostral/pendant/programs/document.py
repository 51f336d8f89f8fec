"""Robot programs as typed, self-validating values, and their JSON document format.

A program is a name and a list of steps: ``Move`` to a taught waypoint, ``Gripper`` open/close,
``Wait``, and ``Skill`` (a plain-language instruction the VLA policy performs until success is
confirmed or its timeout passes). A ``ProgramDocument`` adds the waypoints its moves use, so a
stored version or an exported file says exactly where the arm goes. Every check raises
``BadRequest`` naming the field at fault; ``program_from_json`` raises nothing else.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import ClassVar

from robostral.pendant.errors import BadRequest, TooLarge
from robostral.pendant.json_input import check_fields, parse_json, show
from sim.language import check_instruction

FORMAT = "robostral-program/1"
MAX_DOCUMENT_BYTES = 256 * 1024
MAX_STEPS = 200
MAX_JOINTS = 32
MAX_WAIT_S = 600.0
SKILL_TIMEOUT_S = (1.0, 600.0)
# |joint position| (rad or m) and |tool pose value|: a sanity bound on input, not the robot's limits,
# which the safety supervisor enforces on every motion.
MAX_POSE_VALUE = 1e3
_NAME = re.compile(r"[A-Za-z0-9_-](?:[A-Za-z0-9 _-]{0,62}[A-Za-z0-9_-])?")
_JOINT_NAME = re.compile(r"[A-Za-z0-9_./-]{1,64}")


def check_name(value: object, what: str = "name") -> str:
    """Program and waypoint names: 1 to 64 letters, digits, spaces, '_' or '-', no space at either end."""
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise BadRequest(f"{what} must be 1 to 64 characters of letters, digits, space, '_' or '-', "
                         f"not starting or ending with a space; got {show(value)}")
    return value


def parse_instruction(value: object) -> str:
    """``value`` as an instruction for the policy, outer spaces stripped (``sim.language``'s rules), else BadRequest."""
    try:
        return check_instruction(value)
    except ValueError as error:
        raise BadRequest(str(error)) from None


def _number(value: object, what: str, low: float, high: float, *, open_low: bool = False) -> None:
    ok = isinstance(value, int) and not isinstance(value, bool) or isinstance(value, float) and math.isfinite(value)
    if not ok or not (low < value if open_low else low <= value) or value > high:
        interval = f"{'(' if open_low else '['}{low:g}, {high:g}]"
        raise BadRequest(f"{what} must be a number in {interval}; got {show(value)}")


def _choice(value: object, what: str, choices: tuple[str, ...]) -> None:
    if not isinstance(value, str) or value not in choices:
        raise BadRequest(f"{what} must be one of {', '.join(repr(c) for c in choices)}; got {show(value)}")


@dataclasses.dataclass(frozen=True)
class Move:
    """Move to the taught waypoint, in joint space or on a straight tool line, at a fraction of full speed."""

    kind: ClassVar[str] = "move"
    waypoint: str
    mode: str  # "joint" | "linear"
    speed: float  # fraction of the robot's full speed, (0, 1]

    def __post_init__(self):
        check_name(self.waypoint, "waypoint")
        _choice(self.mode, "mode", ("joint", "linear"))
        _number(self.speed, "speed", 0.0, 1.0, open_low=True)


@dataclasses.dataclass(frozen=True)
class Gripper:
    kind: ClassVar[str] = "gripper"
    command: str  # "open" | "close"

    def __post_init__(self):
        _choice(self.command, "command", ("open", "close"))


@dataclasses.dataclass(frozen=True)
class Wait:
    kind: ClassVar[str] = "wait"
    seconds: float

    def __post_init__(self):
        _number(self.seconds, "seconds", 0.0, MAX_WAIT_S)


@dataclasses.dataclass(frozen=True)
class Skill:
    """The VLA policy performs ``instruction`` until the sim or an operator confirms success, or ``timeout`` s pass.

    The instruction follows ``sim.language.check_instruction`` (what the policy accepts), kept stripped of outer spaces.
    """

    kind: ClassVar[str] = "skill"
    instruction: str
    timeout: float  # seconds

    def __post_init__(self):
        object.__setattr__(self, "instruction", parse_instruction(self.instruction))
        _number(self.timeout, "timeout", *SKILL_TIMEOUT_S)


Step = Move | Gripper | Wait | Skill
STEP_TYPES: dict[str, type[Step]] = {cls.kind: cls for cls in (Move, Gripper, Wait, Skill)}


@dataclasses.dataclass(frozen=True)
class Program:
    """What an engineer edits: a name and at most MAX_STEPS steps (a list is stored as a tuple)."""

    name: str
    steps: tuple[Step, ...]

    def __post_init__(self):
        check_name(self.name)
        if not isinstance(self.steps, Sequence) or isinstance(self.steps, str):
            raise BadRequest(f"steps must be a list; got {show(self.steps)}")
        if len(self.steps) > MAX_STEPS:
            raise BadRequest(f"steps: a program has at most {MAX_STEPS} steps; this one has {len(self.steps)}")
        for i, step in enumerate(self.steps):
            if not isinstance(step, tuple(STEP_TYPES.values())):
                raise BadRequest(f"steps[{i}] must be a move, gripper, wait or skill step; got {show(step)}")
        object.__setattr__(self, "steps", tuple(self.steps))

    def waypoint_names(self) -> list[str]:
        """The waypoints the moves use, each once, in the order first used."""
        return list(dict.fromkeys(step.waypoint for step in self.steps if isinstance(step, Move)))


@dataclasses.dataclass(frozen=True)
class Waypoint:
    """A taught pose: joint positions by joint name (rad, or m for a prismatic joint), in the robot's order.

    ``tool_pose`` is optional: x, y, z (m) and quaternion qx, qy, qz, qw, in the robot base frame.
    ``created_by``/``created_at`` are filled when read from the database and take no part in equality.
    """

    name: str
    joints: dict[str, float]
    tool_pose: tuple[float, ...] | None = None
    created_by: str | None = dataclasses.field(default=None, compare=False)
    created_at: float | None = dataclasses.field(default=None, compare=False)

    def __post_init__(self):
        where = f"waypoint {self.name!r}" if isinstance(self.name, str) else "waypoint"
        check_name(self.name, "waypoint name")
        if not isinstance(self.joints, Mapping) or not 1 <= len(self.joints) <= MAX_JOINTS:
            raise BadRequest(f"{where}: joints must be an object of 1 to {MAX_JOINTS} joint positions; "
                             f"got {show(self.joints)}")
        for joint, position in self.joints.items():
            if not isinstance(joint, str) or not _JOINT_NAME.fullmatch(joint):
                raise BadRequest(f"{where}: joint names are 1 to 64 of A-Z a-z 0-9 _ . / -; got {show(joint)}")
            _number(position, f"{where}: joint {joint!r}", -MAX_POSE_VALUE, MAX_POSE_VALUE)
        object.__setattr__(self, "joints", dict(self.joints))
        if self.tool_pose is not None:
            if not isinstance(self.tool_pose, Sequence) or isinstance(self.tool_pose, str) or len(self.tool_pose) != 7:
                raise BadRequest(f"{where}: tool_pose must be 7 numbers (x y z qx qy qz qw); "
                                 f"got {show(self.tool_pose)}")
            for i, value in enumerate(self.tool_pose):
                _number(value, f"{where}: tool_pose[{i}]", -MAX_POSE_VALUE, MAX_POSE_VALUE)
            object.__setattr__(self, "tool_pose", tuple(self.tool_pose))

    def to_dict(self) -> dict:
        """The waypoint's entry in a program document (its name is the key)."""
        entry: dict = {"joints": dict(self.joints)}
        if self.tool_pose is not None:
            entry["tool_pose"] = list(self.tool_pose)
        return entry


@dataclasses.dataclass(frozen=True)
class ProgramDocument:
    """A program with the waypoints its moves use (exactly those): what a version stores and a file carries."""

    program: Program
    waypoints: dict[str, Waypoint]

    def __post_init__(self):
        used = self.program.waypoint_names()
        missing = [name for name in used if name not in self.waypoints]
        unused = sorted(set(self.waypoints) - set(used))
        if missing:
            raise BadRequest(f"waypoints: the steps move to {', '.join(map(repr, missing))}, "
                             "which the document does not define")
        if unused:
            raise BadRequest(f"waypoints: {', '.join(map(repr, unused))} not used by any step; remove them")
        for key, waypoint in self.waypoints.items():
            if key != waypoint.name:
                raise BadRequest(f"waypoints: key {key!r} holds waypoint {waypoint.name!r}")


def program_to_json(document: ProgramDocument) -> str:
    """The document as stable JSON text (fixed key order, waypoints sorted by name)."""
    steps = [{"type": step.kind, **dataclasses.asdict(step)} for step in document.program.steps]
    waypoints = {name: document.waypoints[name].to_dict() for name in sorted(document.waypoints)}
    body = {"format": FORMAT, "name": document.program.name, "steps": steps, "waypoints": waypoints}
    return json.dumps(body, indent=2, allow_nan=False)


def program_from_json(text: str | bytes) -> ProgramDocument:
    """Parse and validate a program document; BadRequest (TooLarge over MAX_DOCUMENT_BYTES) says what is wrong."""
    size = len(text) if isinstance(text, bytes) else len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_DOCUMENT_BYTES:
        raise TooLarge(f"the program document is {size} bytes; the limit is {MAX_DOCUMENT_BYTES} (256 KiB)")
    body = parse_json(text, "the program document")
    check_fields(body, "the program document", {"format", "name", "steps", "waypoints"})
    if body["format"] != FORMAT:
        raise BadRequest(f"format must be {FORMAT!r}; got {show(body['format'])}")
    program = parse_program({"name": body["name"], "steps": body["steps"]})
    entries = body["waypoints"]
    if not isinstance(entries, dict):
        raise BadRequest(f"waypoints must be an object of name: {{joints, tool_pose}}; got {show(entries)}")
    waypoints = {name: _waypoint(name, entry) for name, entry in entries.items()}
    return ProgramDocument(program, waypoints)


def parse_program(body: object) -> Program:
    """A Program from parsed JSON ``{"name": ..., "steps": [{"type": ..., ...}, ...]}`` (what an editor sends)."""
    check_fields(body, "the program", {"name", "steps"})
    steps = body["steps"]
    if not isinstance(steps, list):
        raise BadRequest(f"steps must be a list; got {show(steps)}")
    return Program(body["name"], tuple(_step(i, item) for i, item in enumerate(steps)))


def _step(index: int, item: object) -> Step:
    where = f"steps[{index}]"
    if not isinstance(item, dict):
        raise BadRequest(f"{where} must be a JSON object with a 'type'; got {show(item)}")
    kind = item.get("type")
    if not isinstance(kind, str) or kind not in STEP_TYPES:
        raise BadRequest(f"{where}: type must be one of {', '.join(map(repr, STEP_TYPES))}; got {show(kind)}")
    cls = STEP_TYPES[kind]
    fields = {field.name for field in dataclasses.fields(cls)}
    check_fields(item, f"{where} ({kind})", fields | {"type"})
    try:
        return cls(**{name: item[name] for name in fields})
    except BadRequest as error:
        raise BadRequest(f"{where} ({kind}): {error}") from None


def _waypoint(name: str, entry: object) -> Waypoint:
    check_fields(entry, f"waypoints[{name!r}]", {"joints"}, frozenset({"tool_pose"}))
    return Waypoint(name, entry["joints"], entry.get("tool_pose"))
