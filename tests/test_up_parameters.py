"""`robostral up`: the sim cell's cameras from the bundle the policy node loads, one safety config for all, and the
cell's topic names (a graph's remap section) on every node's command line, checked."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest
import rclpy
import yaml
from rclpy.context import Context

from robostral.commands.up import parameter_overrides
from robostral.ros import contract
from robostral.ros.graph import Graph, load_graph
from robostral.ros.remaps import NO_REMAPS, check_remaps, load_remaps
from robostral.ros.up import node_command
from robots import load_robot

REPO = Path(__file__).resolve().parents[1]


def _args(policy=None, *params, task=None, robot=None) -> argparse.Namespace:
    return argparse.Namespace(policy=None if policy is None else str(policy), param=list(params), task=task,
                              robot=robot, tls_cert=None, tls_key=None)


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


def test_every_node_of_the_hardware_graph_gets_the_cells_topic_names_and_rcl_applies_them():
    """The hardware graph's remap (launch/graph.yaml, which the launch files read too) reaches each node's command
    line, and rcl resolves the graph's names to the cell's with it; the sim graph renames nothing."""
    graph, remaps = load_graph("hardware"), load_remaps("hardware")
    assert remaps.topic(contract.ARM_TRAJECTORY) == "/scaled_joint_trajectory_controller/joint_trajectory"
    assert remaps.topic(contract.JOINT_STATES) == contract.JOINT_STATES  # a UR cell's name too
    for spec in graph.nodes:
        command = node_command(spec, graph, {}, remaps)
        for source, target in remaps.pairs:
            assert f"{source}:={target}" in command, spec.name
    context = Context()
    rclpy.init(args=command[command.index("--ros-args"):], context=context)
    try:
        node = rclpy.create_node("any_name", context=context)
        for name in (contract.ARM_TRAJECTORY, contract.GRIPPER_TRAJECTORY, contract.CAMERA_IMAGE):
            assert node.resolve_topic_name(name) == remaps.topic(name) != name
        assert node.resolve_topic_name(contract.POLICY_TRAJECTORY) == contract.POLICY_TRAJECTORY
        node.destroy_node()
    finally:
        context.try_shutdown()
    assert "-r" not in node_command(load_graph("sim").nodes[0], load_graph("sim"), {}, load_remaps("sim"))[5:]


@pytest.mark.parametrize(("section", "reason"), [
    ("[/camera/image_raw, /camera/color]", r"must map graph topics to the cell's \(graph topic: cell topic\)"),
    ("{/robostral/estop: /estop}", r"'/robostral/estop' is not a topic of the cell's interface; those are "
                                   r"/joint_states, /camera/image_raw, "),
    ("{/camera/image: /camera/color}", "'/camera/image' is not a topic of the cell's interface"),
    ("{/camera/image_raw: camera/color}", "'camera/color' is no absolute ROS topic name: .* must be absolute"),
    ("{/camera/image_raw: /camera/2d}", "'/camera/2d' is no absolute ROS topic name: .* starts with a number"),
    ("{/camera/image_raw: 5}", "the cell's topic must be a name, got 5"),
    ("{/camera/image_raw: /robostral/instruction}", "/robostral/instruction is one of the graph's own names"),
    ("{/arm_controller/joint_trajectory: /jtc/joint_trajectory, /gripper_controller/joint_trajectory: "
     "/jtc/joint_trajectory}", "/jtc/joint_trajectory is already the cell's name for /arm_controller/joint_trajectory"),
])
def test_a_malformed_remap_section_is_refused_naming_the_file_the_graph_and_the_entry(tmp_path, section, reason):
    (tmp_path / "params.yaml").write_text("{}\n")
    graph_file = tmp_path / "graph.yaml"
    graph_file.write_text(f"executables: {{}}\nhardware:\n  parameters: params.yaml\n  nodes: []\n  remap: {section}\n")
    with pytest.raises(ValueError, match=rf"{re.escape(str(graph_file))}: graph 'hardware': remap.*{reason}"):
        load_remaps("hardware", graph_file)
    assert load_graph("hardware", graph_file).nodes == ()  # the rest of the graph is read as before


def test_a_remap_under_a_cell_topic_is_taken():
    """image_transport's topics sit under the camera's: the compressed stream is the cell's to rename too."""
    remaps = check_remaps({"/camera/image_raw/compressed": "/camera/camera/color/image_raw/compressed"})
    assert remaps.ros_arguments() == ["-r", "/camera/image_raw/compressed:=/camera/camera/color/image_raw/compressed"]
    assert check_remaps(None) == NO_REMAPS
