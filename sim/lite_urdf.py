"""Render-light copies of robot URDFs.

pybullet's TinyRenderer spends its time on triangles: every one costs three vertex
shader calls, seen or not, and the stock visual meshes of the Panda and the xArm
cost ~17 ms per frame whatever the resolution. A policy at 96x96 pixels needs the
silhouette, not the fillets, so each visual mesh is replaced by a coarse copy of
the link's collision mesh (the visual mesh where the link has none): vertices are
merged on a ``RENDER_CELL`` grid (vertex clustering) and collapsed triangles dropped.
Physics is untouched: collision geometry stays as it was.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from robots.urdf import resolve_mesh
from sim.meshes import load_triangles

# Grid step of the vertex clustering, metres: ~1.7 px of the 96x96 front camera at the robot.
RENDER_CELL = 0.02


def cluster(triangles: np.ndarray, cell: float) -> tuple[np.ndarray, np.ndarray]:
    """Merge the vertices in each ``cell``-sized grid box into their mean; return (vertices, faces).

    Triangles whose corners merge are dropped, and so are duplicates; winding is kept,
    so the faces still point outwards for TinyRenderer's back-face culling.
    """
    corners = triangles.reshape(-1, 3)
    keys = np.floor(corners / cell).astype(np.int64)
    _, which, counts = np.unique(keys, axis=0, return_inverse=True, return_counts=True)
    which = which.reshape(-1)
    vertices = np.zeros((len(counts), 3))
    np.add.at(vertices, which, corners)
    vertices /= counts[:, None]
    faces = which.reshape(-1, 3)
    faces = faces[(faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2]) & (faces[:, 2] != faces[:, 0])]
    first = np.argmin(faces, axis=1)  # rotate each face to start at its lowest index, so duplicates compare equal
    faces = np.stack([faces[np.arange(len(faces)), (first + k) % 3] for k in range(3)], axis=1)
    return vertices, np.unique(faces, axis=0)


def write_obj(path: Path, vertices: np.ndarray, faces: np.ndarray) -> None:
    """Write an OBJ atomically: concurrent workers never read half a file."""
    lines = [f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in vertices]
    lines += [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in faces]
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text("\n".join(lines) + "\n")
    os.replace(tmp, path)


def _resolve(filename: str, urdf_dir: Path) -> Path:
    """Mesh path of a URDF as an absolute path; FileNotFoundError naming it where it does not resolve."""
    path = resolve_mesh(filename, urdf_dir)
    if path is None:
        raise FileNotFoundError(f"mesh {filename!r} (URDF in {urdf_dir}) not found")
    return path.resolve()


def render_light_urdf(urdf_path: str | os.PathLike) -> str:
    """Path of a render-light copy of ``urdf_path``, made once per machine and cached."""
    urdf_path = Path(urdf_path).resolve()
    # The key covers this module too, so a change to the lightening rules never serves a stale copy, and the
    # URDF's own path, since the copy points at its meshes by absolute path: another checkout's copy (another
    # venv's pybullet_data) would break here once that checkout is deleted.
    key = urdf_path.read_bytes() + Path(__file__).read_bytes() + str(urdf_path).encode()
    digest = hashlib.sha256(key).hexdigest()[:16]
    cache_dir = Path(tempfile.gettempdir()) / "robostral-urdf" / f"{urdf_path.stem}-{digest}"
    target = cache_dir / urdf_path.name
    if target.exists():
        return str(target)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tree = ET.parse(urdf_path)
    urdf_dir = urdf_path.parent
    for link in tree.getroot().iter("link"):
        collision = link.find("collision")
        for k, visual in enumerate(link.findall("visual")):
            if visual.find("geometry/mesh") is not None:
                _lighten(visual, collision, urdf_dir, cache_dir / f"{link.get('name')}-{k}.obj")
        for mesh in link.iter("mesh"):
            mesh.set("filename", str(_resolve(mesh.get("filename"), urdf_dir)))
    tmp = target.with_suffix(f".{os.getpid()}.tmp")
    tree.write(tmp)
    os.replace(tmp, target)  # written last: its presence means every mesh is there
    return str(target)


def _lighten(visual: ET.Element, collision: ET.Element | None, urdf_dir: Path, output: Path) -> None:
    """Point a visual mesh at a clustered copy of the link's collision mesh, or of itself (scale baked in)."""
    mesh = visual.find("geometry/mesh")
    source = collision.find("geometry/mesh") if collision is not None else None
    if source is None:
        source = mesh
    else:  # the collision mesh is drawn where the collision shape sits
        for origin in visual.findall("origin"):
            visual.remove(origin)
        visual.extend(collision.findall("origin"))
    scale = np.array([float(s) for s in source.get("scale", "1 1 1").split()])
    triangles = load_triangles(_resolve(source.get("filename"), urdf_dir)) * scale
    write_obj(output, *cluster(triangles, RENDER_CELL))
    mesh.set("filename", str(output))
    mesh.attrib.pop("scale", None)
