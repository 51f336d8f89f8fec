"""`robostral up`: bring up the ROS 2 node graph without a ROS 2 distro (what `ros2 launch` starts).

`--sim` (default): sim_driver + safety_supervisor + policy_node; `--hardware`: no
sim_driver, the arm's ros2_control provides the controllers. The graph and its
parameters come from launch/graph.yaml and launch/params/, the same files the
launch files read. Nodes that die are restarted with backoff; Ctrl-C stops all.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from robostral.bundle.card import BundleError, Card, read_card
from robostral.ros.graph import Graph, load_graph
from robostral.ros.security import default_discovery_range


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("up", help="start the ROS 2 node graph (sim or hardware)", description=__doc__)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--sim", dest="graph", action="store_const", const="sim", help="simulated cell (default)")
    mode.add_argument("--hardware", dest="graph", action="store_const", const="hardware", help="real arm")
    parser.add_argument("--policy", metavar="BUNDLE", help="policy bundle (default: the parameter file's)")
    parser.add_argument("--task", help="sim scene: reach, push, pick_place or stack (default: the parameter file's)")
    parser.add_argument("--record", action="store_true", help="also run the recorder (MCAP under runs/recordings)")
    parser.add_argument("--param", action="append", default=[], metavar="NODE.NAME=VALUE",
                        help="override one node parameter, e.g. safety_supervisor.speed_override=0.5")
    parser.set_defaults(run=run, graph="sim")


def run(args: argparse.Namespace) -> int:
    from robostral.ros.up import Bringup  # rclpy only for the commands that need it

    # Loopback-only discovery unless the site chose a range: no DDS-Security in these wheels (docs/security.md).
    default_discovery_range()  # in os.environ before rclpy starts: `up` and every node it starts inherit it
    graph = load_graph(args.graph)
    nodes = graph.selected(("recorder",) if args.record else ())
    return Bringup(graph, nodes, parameter_overrides(args, graph)).run()


def parameter_overrides(args: argparse.Namespace, graph: Graph) -> dict[str, str]:
    """NODE.NAME -> value over the parameter file: --param, --policy, --task, and the cameras the bundle reads."""
    overrides = dict(_override(text) for text in args.param)
    if args.policy:
        card = read_card(args.policy)  # refuses a folder that is not a bundle before anything starts
        overrides["policy_node.bundle"] = str(Path(args.policy).resolve())
    else:  # the parameter file's bundle; one that cannot be read is the policy node's to report
        card = _default_card(graph, overrides)
    if card is not None:
        # The simulated cell renders what the bundle takes (a real cell's cameras are set up to match).
        overrides.setdefault("sim_driver.image_size", str(card.image_size))
        overrides.setdefault("sim_driver.wrist_camera", str(card.wrist_camera).lower())
    if args.task:
        overrides["sim_driver.task"] = args.task
    return overrides


def _default_card(graph: Graph, overrides: dict[str, str]) -> Card | None:
    """The card of the bundle the policy node will load without --policy, or None if it cannot be read."""
    bundle = overrides.get("policy_node.bundle") or graph.parameter("policy_node", "bundle")
    try:
        return read_card(bundle) if bundle else None
    except BundleError:  # no card, or not one
        return None


def _override(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or "." not in key:
        raise ValueError(f"--param {text!r}: expected NODE.NAME=VALUE")
    return key, value
