"""Mesh files as pybullet reads them (OBJ, STL, COLLADA), for the render-light copies of any arm's URDF."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from robots.description import package_root
from sim.lite_urdf import render_light_urdf
from sim.meshes import load_triangles

UR5_MESHES = package_root("example-robot-data") / "ur_description" / "meshes" / "ur5"

SQUARE = """<?xml version="1.0"?>
<COLLADA xmlns="http://www.collada.org/2005/11/COLLADASchema" version="1.4.1">
  <asset><unit name="millimetre" meter="0.001"/></asset>
  <library_geometries><geometry id="square"><mesh>
    <source id="points"><float_array id="points-array" count="12">0 0 0 10 0 0 10 10 0 0 10 0</float_array></source>
    <vertices id="vertices"><input semantic="POSITION" source="#points"/></vertices>
    <polylist count="1"><input semantic="VERTEX" source="#vertices" offset="0"/><input semantic="NORMAL"
      source="#normals" offset="1"/><vcount>4</vcount><p>0 0 1 0 2 0 3 0</p></polylist>
  </mesh></geometry></library_geometries>
  <library_visual_scenes><visual_scene id="scene"><node id="placed"><translate>0 0 5</translate>
    <instance_geometry url="#square"/></node></visual_scene></library_visual_scenes>
</COLLADA>"""


def test_a_collada_polygon_is_fanned_into_triangles_placed_by_its_node_in_metres(tmp_path):
    path = tmp_path / "square.dae"
    path.write_text(SQUARE)
    triangles = load_triangles(path)
    assert triangles.shape == (2, 3, 3)  # a square is two triangles
    np.testing.assert_allclose(triangles[:, :, 2], 0.005)  # translated 5 mm, in metres
    np.testing.assert_allclose(triangles.reshape(-1, 3).max(axis=0), [0.01, 0.01, 0.005])


@pytest.mark.parametrize("link", ["base", "forearm", "wrist3"])
def test_the_ur5s_collada_visuals_cover_what_its_collision_meshes_do(link):
    visual = load_triangles(UR5_MESHES / "visual" / f"{link}.dae").reshape(-1, 3)
    collision = load_triangles(UR5_MESHES / "collision" / f"{link}.stl").reshape(-1, 3)
    np.testing.assert_allclose(visual.min(axis=0), collision.min(axis=0), atol=0.002)
    np.testing.assert_allclose(visual.max(axis=0), collision.max(axis=0), atol=0.002)


def test_a_format_pybullet_does_not_read_is_refused_by_name(tmp_path):
    path = tmp_path / "arm.ply"
    path.write_text("ply\n")
    with pytest.raises(ValueError, match="arm.ply: a mesh format pybullet does not read"):
        load_triangles(path)


def test_a_link_with_only_a_collada_visual_gets_a_light_copy(tmp_path, monkeypatch):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    urdf = tmp_path / "one_link.urdf"
    urdf.write_text(f"""<robot name="one"><link name="forearm"><visual><geometry>
        <mesh filename="{UR5_MESHES / 'visual' / 'forearm.dae'}"/></geometry></visual></link></robot>""")
    light = Path(render_light_urdf(urdf))
    mesh = Path(ET.parse(light).getroot().find("link/visual/geometry/mesh").get("filename"))
    assert mesh.suffix == ".obj" and mesh.is_relative_to(tmp_path)
    coarse = load_triangles(mesh)
    assert 0 < len(coarse) < len(load_triangles(UR5_MESHES / "visual" / "forearm.dae")) / 10
