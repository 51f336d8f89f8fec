"""The launch description of a bring-up graph, for ``ros2 launch`` on a machine with a ROS 2 distro.

launch/sim.launch.py and launch/hardware.launch.py call ``describe``; the nodes,
their parameter file, the cell's topic remaps and the lifecycle handling come from
launch/graph.yaml, the same description ``robostral up`` starts. Needs the ``launch``
and ``launch_ros`` packages of a ROS 2 install (they are not on PyPI).
"""

from __future__ import annotations

from pathlib import Path

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, EmitEvent, RegisterEventHandler
from launch.conditions import IfCondition
from launch.events import matches_action
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import LifecycleNode, Node
from launch_ros.event_handlers import OnStateTransition
from launch_ros.events.lifecycle import ChangeState
from lifecycle_msgs.msg import Transition

from robostral.ros.graph import LAUNCH_DIR, load_graph
from robostral.ros.remaps import load_remaps

PACKAGE = "robostral_ros"  # the ament package in ros_ws/ that exposes the executables


def describe(graph_name: str, launch_dir: Path = LAUNCH_DIR) -> LaunchDescription:
    """Every node of the graph with the graph's parameters and remaps; lifecycle nodes configured, then activated.

    ``launch_dir`` holds graph.yaml: the calling launch file's folder (the repository's
    launch/ or, installed by ros_ws/, share/robostral_ros/launch).
    """
    graph = load_graph(graph_name, launch_dir / "graph.yaml")
    remaps = load_remaps(graph_name, launch_dir / "graph.yaml")
    record = LaunchConfiguration("record")
    actions = [DeclareLaunchArgument("record", default_value="false", description="also run the recorder")]
    for spec in graph.nodes:
        common = dict(package=PACKAGE, executable=spec.executable, name=spec.name, namespace="",
                      parameters=[str(graph.parameters)], remappings=list(remaps.pairs), output="screen",
                      respawn=True, respawn_delay=2.0)
        if spec.optional:
            common["condition"] = IfCondition(record)
        if not spec.lifecycle:
            actions.append(Node(**common))
            continue
        node = LifecycleNode(**common)
        configure = EmitEvent(event=ChangeState(lifecycle_node_matcher=matches_action(node),
                                                transition_id=Transition.TRANSITION_CONFIGURE))
        activate = RegisterEventHandler(OnStateTransition(
            target_lifecycle_node=node, start_state="configuring", goal_state="inactive",
            entities=[EmitEvent(event=ChangeState(lifecycle_node_matcher=matches_action(node),
                                                  transition_id=Transition.TRANSITION_ACTIVATE))],
        ))
        actions += [node, activate, configure]
    return LaunchDescription(actions)
