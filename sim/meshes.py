"""Triangles of the mesh files pybullet reads (OBJ, STL, COLLADA), for the render-light copies of URDFs."""

from __future__ import annotations

import struct
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np


def load_triangles(path: Path) -> np.ndarray:
    """Triangles of an OBJ, STL or COLLADA mesh as an (n, 3, 3) array of vertex positions (metres for COLLADA,
    file units otherwise); ValueError for another format."""
    suffix = path.suffix.lower()
    if suffix == ".stl":
        return _stl_vertices(path).reshape(-1, 3, 3)
    if suffix == ".dae":
        return _collada_triangles(path)
    if suffix != ".obj":
        raise ValueError(f"{path}: a mesh format pybullet does not read (OBJ, STL, COLLADA)")
    vertices, faces = [], []
    for line in path.read_text().splitlines():
        if line.startswith("v "):
            vertices.append(line.split()[1:4])
        elif line.startswith("f "):
            corners = [int(token.split("/")[0]) for token in line.split()[1:]]
            faces.extend([corners[0], corners[i], corners[i + 1]] for i in range(1, len(corners) - 1))  # fan
    array = np.array(vertices, dtype=np.float64)
    index = np.array(faces, dtype=np.int64)
    return array[np.where(index > 0, index - 1, len(array) + index)]  # OBJ counts from 1, or back from -1


def _stl_vertices(path: Path) -> np.ndarray:
    data = path.read_bytes()
    if data[:5] == b"solid" and b"facet" in data[:300]:
        lines = data.decode(errors="ignore").splitlines()
        return np.array([line.split()[1:4] for line in lines if line.strip().startswith("vertex")], dtype=np.float64)
    (count,) = struct.unpack_from("<I", data, 80)
    records = np.frombuffer(data, dtype=np.uint8, count=count * 50, offset=84).reshape(count, 50)
    triangles = records[:, 12:48].copy().view("<f4").reshape(count * 3, 3)
    return triangles.astype(np.float64)


def _collada_triangles(path: Path) -> np.ndarray:
    """Every <triangles> and <polylist> of the scene's geometry instances, placed by their nodes' transforms."""
    root = ET.parse(path).getroot()
    for element in root.iter():  # COLLADA's namespace (1.4 or 1.5) carries nothing we read
        element.tag = element.tag.rsplit("}", 1)[-1]
    unit = root.find("asset/unit")
    meter = float(unit.get("meter", "1")) if unit is not None else 1.0
    geometries = {g.get("id"): g for g in root.iter("geometry")}
    placed = []
    for node, transform in _nodes(root):
        for instance in node.findall("instance_geometry"):
            geometry = geometries.get(instance.get("url", "").lstrip("#"))
            if geometry is not None:
                points = _geometry_triangles(geometry).reshape(-1, 3) @ transform[:3, :3].T + transform[:3, 3]
                placed.append(points.reshape(-1, 3, 3))
    if not placed:  # no scene: the geometries as they are
        placed = [_geometry_triangles(g) for g in geometries.values()]
    return (np.concatenate(placed) if placed else np.zeros((0, 3, 3))) * meter


def _nodes(root: ET.Element):
    """(node, its transform in the scene) for every node of the visual scenes, depth first."""
    def walk(node: ET.Element, parent: np.ndarray):
        transform = parent @ _node_transform(node)
        yield node, transform
        for child in node.findall("node"):
            yield from walk(child, transform)

    for scene in root.iter("visual_scene"):
        for node in scene.findall("node"):
            yield from walk(node, np.eye(4))


def _node_transform(node: ET.Element) -> np.ndarray:
    """A node's <matrix>, <translate>, <rotate> and <scale>, composed in document order."""
    transform = np.eye(4)
    for element in node:
        values = np.array(element.text.split(), dtype=np.float64) if element.text else np.zeros(0)
        step = np.eye(4)
        if element.tag == "matrix" and len(values) == 16:
            step = values.reshape(4, 4)
        elif element.tag == "translate" and len(values) == 3:
            step[:3, 3] = values
        elif element.tag == "scale" and len(values) == 3:
            step[:3, :3] = np.diag(values)
        elif element.tag == "rotate" and len(values) == 4:
            axis, angle = values[:3] / np.linalg.norm(values[:3]), np.radians(values[3])
            skew = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
            step[:3, :3] = np.eye(3) + np.sin(angle) * skew + (1 - np.cos(angle)) * skew @ skew
        transform = transform @ step
    return transform


def _geometry_triangles(geometry: ET.Element) -> np.ndarray:
    """The triangles of one <geometry>'s <mesh> (polygons fanned from their first corner), in its own frame."""
    mesh = geometry.find("mesh")
    if mesh is None:
        return np.zeros((0, 3, 3))
    arrays = {source.get("id"): np.array(source.find("float_array").text.split(), dtype=np.float64)
              for source in mesh.findall("source") if source.find("float_array") is not None}
    position = next(i.get("source", "").lstrip("#") for i in mesh.findall("vertices/input")
                    if i.get("semantic") == "POSITION")
    points = arrays[position].reshape(-1, 3)
    triangles = []
    for primitive in (*mesh.findall("triangles"), *mesh.findall("polylist")):
        inputs = primitive.findall("input")
        stride = 1 + max(int(i.get("offset", "0")) for i in inputs)
        offset = next(int(i.get("offset", "0")) for i in inputs if i.get("semantic") == "VERTEX")
        p = primitive.find("p")
        if p is None or not p.text:
            continue
        corners = np.array(p.text.split(), dtype=np.int64).reshape(-1, stride)[:, offset]
        counts = (np.full(len(corners) // 3, 3) if primitive.tag == "triangles"
                  else np.array(primitive.find("vcount").text.split(), dtype=np.int64))
        start = 0
        for count in counts:
            polygon = corners[start:start + count]
            triangles.extend((polygon[0], polygon[i], polygon[i + 1]) for i in range(1, count - 1))
            start += count
    return points[np.array(triangles, dtype=np.int64)] if triangles else np.zeros((0, 3, 3))
