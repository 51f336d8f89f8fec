"""Render-light copies of robot URDFs.

pybullet's TinyRenderer spends its time on triangles: the stock visual meshes of
the Panda and the xArm cost ~17 ms per frame whatever the resolution. A policy
at 96x96 pixels needs the silhouette, not the fillets, so each visual mesh is
replaced by the link's collision mesh when that is small, else by the box that
bounds the mesh. Physics is untouched: collision geometry stays as it was.
"""

from __future__ import annotations

import hashlib
import os
import struct
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

# A collision mesh above this many bytes is drawn as its bounding box instead.
MAX_RENDER_MESH_BYTES = 160_000


def mesh_bounds(path: Path, scale: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Axis-aligned (min, max) corners of an OBJ or STL mesh, in metres."""
    if path.suffix.lower() == ".stl":
        vertices = _stl_vertices(path)
    else:
        vertices = np.array(
            [line.split()[1:4] for line in path.read_text().splitlines() if line.startswith("v ")],
            dtype=np.float64,
        )
    vertices = vertices * scale
    return vertices.min(axis=0), vertices.max(axis=0)


def _stl_vertices(path: Path) -> np.ndarray:
    data = path.read_bytes()
    if data[:5] == b"solid" and b"facet" in data[:300]:
        rows = [line.split()[1:4] for line in data.decode(errors="ignore").splitlines() if line.strip().startswith("vertex")]
        return np.array(rows, dtype=np.float64)
    (count,) = struct.unpack_from("<I", data, 80)
    records = np.frombuffer(data, dtype=np.uint8, count=count * 50, offset=84).reshape(count, 50)
    triangles = records[:, 12:48].copy().view("<f4").reshape(count * 3, 3)
    return triangles.astype(np.float64)


def _resolve(filename: str, urdf_dir: Path) -> Path:
    """Mesh path of a URDF as an absolute path (package:// is taken relative to the URDF)."""
    return (urdf_dir / filename.removeprefix("package://")).resolve()


def render_light_urdf(urdf_path: str | os.PathLike) -> str:
    """Path of a render-light copy of ``urdf_path``, made once per machine and cached."""
    urdf_path = Path(urdf_path).resolve()
    # The cache key covers this module too, so a change to the lightening rules never serves a stale copy.
    digest = hashlib.sha256(urdf_path.read_bytes() + Path(__file__).read_bytes()).hexdigest()[:16]
    cache_dir = Path(tempfile.gettempdir()) / "robostral-urdf"
    target = cache_dir / f"{urdf_path.stem}-{digest}.urdf"
    if target.exists():
        return str(target)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tree = ET.parse(urdf_path)
    urdf_dir = urdf_path.parent
    for link in tree.getroot().iter("link"):
        collision_mesh = link.find("collision/geometry/mesh")
        for visual in link.findall("visual"):
            _lighten_visual(visual, collision_mesh, urdf_dir)
        for mesh in link.iter("mesh"):
            mesh.set("filename", str(_resolve(mesh.get("filename"), urdf_dir)))
    tmp = target.with_suffix(f".{os.getpid()}.tmp")
    tree.write(tmp)
    os.replace(tmp, target)  # atomic: concurrent workers never read half a file
    return str(target)


def _lighten_visual(visual: ET.Element, collision_mesh: ET.Element | None, urdf_dir: Path) -> None:
    geometry = visual.find("geometry")
    mesh = geometry.find("mesh") if geometry is not None else None
    if mesh is None:
        return  # already a primitive
    scale = np.array([float(s) for s in mesh.get("scale", "1 1 1").split()])
    if collision_mesh is not None:
        candidate = _resolve(collision_mesh.get("filename"), urdf_dir)
        if candidate.stat().st_size <= MAX_RENDER_MESH_BYTES:
            mesh.set("filename", str(candidate))
            return
    low, high = mesh_bounds(_resolve(mesh.get("filename"), urdf_dir), scale)
    geometry.remove(mesh)
    ET.SubElement(geometry, "box", size=" ".join(f"{v:.5f}" for v in high - low))
    origin = visual.find("origin")
    if origin is None:
        origin = ET.SubElement(visual, "origin", rpy="0 0 0", xyz="0 0 0")
    # The box is centred on the mesh's centre, expressed in the visual's own frame.
    offset = np.array([float(v) for v in origin.get("xyz", "0 0 0").split()])
    rpy = [float(v) for v in origin.get("rpy", "0 0 0").split()]
    centre = _rotation(rpy) @ ((low + high) / 2) + offset
    origin.set("xyz", " ".join(f"{v:.5f}" for v in centre))


def _rotation(rpy: list[float]) -> np.ndarray:
    r, p, y = rpy
    rx = np.array([[1, 0, 0], [0, np.cos(r), -np.sin(r)], [0, np.sin(r), np.cos(r)]])
    ry = np.array([[np.cos(p), 0, np.sin(p)], [0, 1, 0], [-np.sin(p), 0, np.cos(p)]])
    rz = np.array([[np.cos(y), -np.sin(y), 0], [np.sin(y), np.cos(y), 0], [0, 0, 1]])
    return rz @ ry @ rx
