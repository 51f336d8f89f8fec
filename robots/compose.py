"""One URDF from an arm's and the parts a description attaches to it (a gripper on the flange), meshes resolved.

ROS-style URDFs name meshes ``package://<package>/...``, which only a ROS install resolves, and an
arm and its gripper often come as two files. The composed copy has every mesh at an absolute path
and each attached part joined by a fixed joint to the link it hangs from, so that the simulator,
the kinematics and ``robot_state_publisher`` alike read one self-contained file. Copies are cached
by content (the inputs, their paths and this module), so a changed input never serves a stale copy.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from robots.urdf import UrdfError, resolve_mesh


@dataclass(frozen=True)
class Attachment:
    """A URDF joined to the arm: its root link hangs from ``parent`` at ``xyz`` (m) and ``rpy`` (rad)."""

    urdf: Path
    parent: str
    xyz: tuple[float, float, float] = (0.0, 0.0, 0.0)
    rpy: tuple[float, float, float] = (0.0, 0.0, 0.0)


def needs_composing(urdf: Path, attachments: tuple[Attachment, ...]) -> bool:
    """Whether the URDF can be used as it is: nothing attached and no ``package://`` mesh."""
    return bool(attachments) or "package://" in urdf.read_text(errors="replace")


def compose(urdf: Path, attachments: tuple[Attachment, ...] = ()) -> Path:
    """The path of the composed copy of ``urdf`` with ``attachments`` (made once, then served from the cache)."""
    inputs = [urdf, *(a.urdf for a in attachments)]
    key = hashlib.sha256(Path(__file__).read_bytes())
    for path in inputs:
        key.update(str(path.resolve()).encode() + path.read_bytes())
    key.update(repr(attachments).encode())
    target = Path(tempfile.gettempdir()) / "robostral-urdf" / f"composed-{key.hexdigest()[:16]}" / urdf.name
    if target.exists():
        return target
    robot = _resolved(urdf)
    links = {link.get("name") for link in robot.findall("link")}
    for attachment in attachments:
        part = _resolved(attachment.urdf)
        if attachment.parent not in links:
            raise UrdfError(f"{urdf}: no link {attachment.parent!r} to attach {attachment.urdf} to")
        part_links = {link.get("name") for link in part.findall("link")}
        clash = sorted(part_links & links)
        if clash:
            raise UrdfError(f"{attachment.urdf}: link(s) {', '.join(clash)} already in {urdf}")
        children = {child.get("link") for child in part.findall("joint/child")}
        roots = sorted(part_links - children)
        if len(roots) != 1:
            raise UrdfError(f"{attachment.urdf}: expected one root link, found {roots or 'none'}")
        mount = ET.SubElement(robot, "joint", name=f"{attachment.parent}-{roots[0]}_mount", type="fixed")
        ET.SubElement(mount, "parent", link=attachment.parent)
        ET.SubElement(mount, "child", link=roots[0])
        ET.SubElement(mount, "origin", xyz=" ".join(map(str, attachment.xyz)), rpy=" ".join(map(str, attachment.rpy)))
        for element in part:
            robot.append(element)
        links |= part_links
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(f".{os.getpid()}.tmp")
    ET.ElementTree(robot).write(tmp)
    os.replace(tmp, target)  # whole or absent: concurrent workers never read half a file
    return target


def _resolved(urdf: Path) -> ET.Element:
    """The URDF's root element with every mesh at an absolute path (an unresolved one is left as written)."""
    try:
        root = ET.parse(urdf).getroot()
    except (OSError, ET.ParseError) as error:
        raise UrdfError(f"{urdf}: cannot read it as a URDF ({error})") from None
    for mesh in root.iter("mesh"):
        resolved = resolve_mesh(mesh.get("filename", ""), urdf.parent)
        if resolved is not None:
            mesh.set("filename", str(resolved.resolve()))
    return root
