"""The ROS 2 node executables are listed once (launch/graph.yaml) and pip installs exactly those."""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from pathlib import Path

import pytest
import yaml

from robostral.ros.graph import GRAPH_FILE, load_graph


def test_pip_installs_every_node_executable_of_the_graph_file_and_each_runs_its_module():
    listed = yaml.safe_load(GRAPH_FILE.read_text())["executables"]
    installed = {e.name: e.value for e in entry_points(group="console_scripts") if e.name.startswith("robostral-")}
    assert installed == {exe: f"robostral.ros.{module}:main" for exe, module in listed.items()}
    for module in listed.values():
        assert callable(importlib.import_module(f"robostral.ros.{module}").main)


def test_a_graph_node_whose_executable_is_not_listed_is_refused_by_name(tmp_path: Path):
    (tmp_path / "params.yaml").write_text("{}\n")
    (tmp_path / "graph.yaml").write_text(yaml.safe_dump({
        "executables": {"robostral-sim-driver": "sim_driver"},
        "sim": {"parameters": "params.yaml", "nodes": [{"name": "x", "executable": "robostral-typo"}]},
    }))
    with pytest.raises(ValueError, match="runs robostral-typo, not listed in executables"):
        load_graph("sim", tmp_path / "graph.yaml")
    with pytest.raises(ValueError, match=r"no graph 'executables' \(graphs: sim\)"):
        load_graph("executables", tmp_path / "graph.yaml")
