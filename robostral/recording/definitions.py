"""Complete ROS 2 message definitions, as rosbag2 stores them in a bag's schemas.

A reader without ROS (mcap_ros2, Foxglove) decodes a topic from its schema alone, so a
schema holds the type's .msg text followed by every type it uses, recursively: each after
a line of 80 ``=`` and a line ``MSG: pkg/Type`` (the ``ros2msg`` encoding of rosbag2's
LocalMessageDefinitionSource, which this follows rule for rule, so the bytes are the same).
The .msg files come from the installed interface packages (``share/<pkg>/msg``).
"""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

ENCODING = "ros2msg"
SEPARATOR = "=" * 80
# A field's type at the start of a line ("std_msgs/Header header", "float64[] position"), as rosbag2 matches it.
FIELD_TYPE = re.compile(r"(?:^|\n)\s*([a-zA-Z0-9_/]+)(?:\[[^\]]*\])?\s+")
PRIMITIVES = frozenset({"bool", "byte", "char", "float32", "float64", "int8", "uint8", "int16", "uint16", "int32",
                        "uint32", "int64", "uint64", "string"})
TYPE_NAME = re.compile(r"^([a-zA-Z]\w*)/(?:(msg)/)?([a-zA-Z]\w*)$")


@dataclass(frozen=True)
class MessageDefinition:
    type: str  # e.g. "sensor_msgs/msg/JointState"
    text: str  # the complete definition, ros2msg encoding
    type_hash: str  # "RIHS01_..." from the package's type description; "" when it ships none


def message_definition(type_name: str) -> MessageDefinition:
    """The complete definition of ``type_name`` ("pkg/msg/Type"); LookupError when a .msg file is missing."""
    seen: set[str] = set()  # the dependencies written so far, once each, depth first

    def expand(name: str) -> str:
        text = _msg_file(name).read_text()
        result = text
        for dependency in _dependencies(text, name.split("/")[0]):
            if dependency not in seen:
                seen.add(dependency)
                result += f"\n{SEPARATOR}\nMSG: {dependency}\n" + expand(dependency)
        return result

    return MessageDefinition(type_name, expand(type_name), _type_hash(type_name))


def share_directories() -> list[Path]:
    """Where installed ROS packages keep their files: each AMENT_PREFIX_PATH prefix, then this Python's prefix."""
    prefixes = [p for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p] + [sys.prefix]
    return [Path(prefix) / "share" for prefix in prefixes]


def _dependencies(text: str, package: str) -> list[str]:
    """The non-primitive field types of a .msg text, "pkg/Type", sorted (rosbag2 keeps them in a std::set)."""
    found = set()
    for match in FIELD_TYPE.finditer(text):
        name = match.group(1)
        if name not in PRIMITIVES:
            found.add(name if "/" in name else f"{package}/{name}")
    return sorted(found)


def _interface_file(type_name: str, suffix: str) -> Path | None:
    match = TYPE_NAME.match(type_name)
    if match is None:
        raise ValueError(f"not a ROS 2 message type name: {type_name!r} (expected pkg/msg/Type)")
    package, _, name = match.groups()
    for share in share_directories():
        path = share / package / "msg" / f"{name}{suffix}"
        if path.is_file():
            return path
    return None


def _msg_file(type_name: str) -> Path:
    path = _interface_file(type_name, ".msg")
    if path is None:
        places = ", ".join(str(s) for s in share_directories())
        raise LookupError(f"no .msg file for {type_name} under {places}; install its interface package")
    return path


def _type_hash(type_name: str) -> str:
    """The RIHS01 type hash that rosidl generated next to the .msg file (ROS 2 Iron and later)."""
    path = _interface_file(type_name, ".json")
    if path is None:
        return ""
    hashes = json.loads(path.read_text()).get("type_hashes", [])
    return next((h["hash_string"] for h in hashes if h.get("type_name") == type_name), "")
