"""`robostral up`: the sim cell's cameras from the bundle the policy node loads, and one safety config for all."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import rclpy
import yaml
from rclpy.context import Context

from robostral.commands.up import parameter_overrides
from robostral.ros.graph import Graph, load_graph
from robots import load_robot

REPO = Path(__file__).resolve().parents[1]


def _args(policy=None, *params, task=None, robot=None) -> argparse.Namespace:
    return argparse.Namespace(policy=None if policy is None else str(policy), param=list(params), task=task,
                              robot=robot)


def overrides_of(args: argparse.Namespace, graph: Graph) -> dict[str, str]:
    return parameter_overrides(args, graph)[0]


def _graph(tmp_path: Path, bundle) -> Graph:
    parameters = tmp_path / "params.yaml"
    parameters.write_text(yaml.safe_dump({"policy_node": {"ros__parameters": {"bundle": str(bundle)}}}))
    return Graph("sim", parameters, ())


def test_a_named_bundle_sets_the_image_size_and_the_wrist_camera(pipeline, wrist_pipeline, tmp_path):
    graph = _graph(tmp_path, tmp_path / "nowhere")
    wrist = overrides_of(_args(wrist_pipeline.bundle, task="reach"), graph)
    assert wrist == {"policy_node.bundle": str(wrist_pipeline.bundle.resolve()), "sim_driver.image_size": "32",
                     "sim_driver.wrist_camera": "true", "sim_driver.task": "reach"}
    plain = overrides_of(_args(pipeline.bundle), graph)
    assert plain["sim_driver.wrist_camera"] == "false"
    chosen = overrides_of(_args(wrist_pipeline.bundle, "sim_driver.wrist_camera=false"), graph)
    assert chosen["sim_driver.wrist_camera"] == "false"  # an explicit --param wins


def test_without_policy_the_parameter_files_bundle_decides(wrist_pipeline, tmp_path, monkeypatch):
    overrides = overrides_of(_args(), _graph(tmp_path, wrist_pipeline.bundle))
    assert overrides == {"sim_driver.image_size": "32", "sim_driver.wrist_camera": "true"}
    assert overrides_of(_args(), _graph(tmp_path, tmp_path / "nowhere")) == {}  # the policy node reports it

    monkeypatch.chdir(REPO)  # the shipped parameter file names the shipped bundle, relative to the repository
    shipped = overrides_of(_args(), load_graph("sim"))
    assert shipped == {"sim_driver.image_size": "96", "sim_driver.wrist_camera": "true"}
    assert yaml.safe_load((REPO / "launch/params/sim.yaml").read_text())["sim_driver"]["ros__parameters"][
        "wrist_camera"] is True  # what `ros2 launch` gives the shipped policy, which reads the wrist camera


@pytest.mark.parametrize("graph", ["sim", "hardware"])
def test_the_supervisor_and_the_policy_node_read_one_safety_config(graph):
    """The margins and the workspace the supervisor enforces are the envelope the policy node clips into: one
    `safety_config`, set for every node (/**), overridden by none."""
    document = yaml.safe_load(load_graph(graph).parameters.read_text())
    assert "safety_config" in document["/**"]["ros__parameters"]
    for node, section in document.items():
        assert node == "/**" or "safety_config" not in section["ros__parameters"], node


@pytest.mark.parametrize("graph", ["sim", "hardware"])
def test_a_command_line_parameter_still_overrides_the_parameter_file(graph):
    """`robostral up --param` is a -p after the graph's --params-file; rcl drops it when a /** section comes
    first in the file, so the file keeps that section last."""
    context = Context()
    arguments = ["--ros-args", "-r", "__node:=pendant", "--params-file", str(load_graph(graph).parameters),
                 "-p", "port:=1234"]
    rclpy.init(args=arguments, context=context)
    try:
        node = rclpy.create_node("any_name", context=context)
        assert node.declare_parameter("port", 8080).value == 1234
        assert node.declare_parameter("safety_config", "unset").value == ""  # and the /** section applies
        node.destroy_node()
    finally:
        context.try_shutdown()


def test_the_cells_arm_goes_to_the_sim_driver_and_the_supervisor_and_a_bundle_must_drive_it(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    shipped = "policies/robostral-s-panda"  # a Panda's
    graph = _graph(tmp_path, REPO / shipped)
    overrides, card = parameter_overrides(_args(robot="ur5"), graph)
    assert overrides["sim_driver.robot"] == overrides["safety_supervisor.robot"] == "ur5"
    assert card.robot == "panda"  # the parameter file's bundle: `up` leaves the policy node out (see run)
    with pytest.raises(ValueError, match=f"the bundle {shipped} drives a panda, not the cell's ur5"):
        parameter_overrides(_args(shipped, robot="ur5"), graph)
    cell = tmp_path / "cell.yaml"
    cell.write_text(load_robot("ur5").source.read_text().replace("path: grippers/", f"path: {REPO}/robots/"
                                                                                 f"descriptions/grippers/"))
    monkeypatch.chdir(tmp_path)
    overrides, _ = parameter_overrides(_args(robot="cell.yaml"), graph)
    assert overrides["safety_supervisor.robot"] == str(cell)  # absolute: the nodes may run elsewhere
