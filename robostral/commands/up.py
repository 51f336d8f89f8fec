"""`robostral up`: bring up the ROS 2 node graph without a ROS 2 distro (what `ros2 launch` starts).

`--sim` (default): sim_driver + safety_supervisor + policy_node; `--hardware`: no
sim_driver, the arm's ros2_control provides the controllers. The graph, its
parameters and the cell's topic names (a graph's `remap` section) come from
launch/graph.yaml and launch/params/, the same files the launch files read.
Nodes that die are restarted with backoff; Ctrl-C stops all.

`--robot` names the cell's arm (a shipped one, or a description file): the sim driver
simulates it and the supervisor takes its limits, kinematics and workspace from it.
A bundle for another arm is refused; where the parameter file's bundle is for another
arm, the graph runs without a policy (the pendant jogs, teaches and runs programs).

`--tls-cert` and `--tls-key` serve the pendant over HTTPS; without them it may listen on loopback
only (docs/pendant.md). Its certificate and address are checked before anything starts.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from robostral.bundle.card import BundleError, Card, read_card
from robostral.commands.arguments import ROBOT_HELP, robot
from robostral.ros.graph import Graph, load_graph
from robostral.ros.security import default_discovery_range
from robots import is_path, load_robot

POLICY_NODE = "policy_node"
BUNDLE = f"{POLICY_NODE}.bundle"
PENDANT = "pendant"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("up", help="start the ROS 2 node graph (sim or hardware)", description=__doc__)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--sim", dest="graph", action="store_const", const="sim", help="simulated cell (default)")
    mode.add_argument("--hardware", dest="graph", action="store_const", const="hardware", help="real arm")
    parser.add_argument("--robot", type=robot, help=f"the cell's arm: {ROBOT_HELP} (default: the parameter file's)")
    parser.add_argument("--policy", metavar="BUNDLE", help="policy bundle (default: the parameter file's)")
    parser.add_argument("--task", help="sim scene: reach, push, pick_place or stack (default: the parameter file's)")
    parser.add_argument("--record", action="store_true", help="also run the recorder (MCAP under runs/recordings)")
    parser.add_argument("--param", action="append", default=[], metavar="NODE.NAME=VALUE",
                        help="override one node parameter, e.g. safety_supervisor.speed_override=0.5")
    parser.add_argument("--tls-cert", metavar="CERT", help="serve the pendant over HTTPS with this PEM certificate "
                        "(its chain after it), e.g. one from `robostral pendant cert` (pendant.tls_cert)")
    parser.add_argument("--tls-key", metavar="KEY", help="the certificate's private key, PEM, unencrypted "
                        "(pendant.tls_key)")
    parser.set_defaults(run=run, graph="sim")


def run(args: argparse.Namespace) -> int:
    from robostral.ros.remaps import load_remaps  # rclpy only for the commands that need it
    from robostral.ros.up import Bringup

    # Loopback-only discovery unless the site chose a range: no DDS-Security in these wheels (docs/security.md).
    default_discovery_range()  # in os.environ before rclpy starts: `up` and every node it starts inherit it
    graph = load_graph(args.graph)
    remaps = load_remaps(args.graph)  # a malformed remap section stops here, before anything starts
    nodes = graph.selected(("recorder",) if args.record else ())
    overrides, card = parameter_overrides(args, graph)
    if card is not None and args.robot and not same_arm(card.robot, args.robot):  # the parameter file's bundle
        print(f"robostral up: the bundle {overrides.get(BUNDLE) or graph.parameter(POLICY_NODE, 'bundle')} drives a "
              f"{card.robot}, not the {args.robot}: the graph runs without {POLICY_NODE} (pass --policy for one)")
        nodes = tuple(node for node in nodes if node.name != POLICY_NODE)
    if any(node.name == PENDANT for node in nodes):
        check_pendant(graph, overrides)
    return Bringup(graph, nodes, overrides, remaps=remaps).run()


def parameter_overrides(args: argparse.Namespace, graph: Graph) -> tuple[dict[str, str], Card | None]:
    """NODE.NAME -> value over the parameter file (--param, --robot, --policy, --task, and the cameras the bundle
    reads), and the bundle's card (None where the parameter file's bundle cannot be read)."""
    overrides = dict(_override(text) for text in args.param)
    if args.robot:  # a description file by its absolute path: the nodes run elsewhere
        arm = str(Path(args.robot).resolve()) if is_path(args.robot) else args.robot
        overrides.update({"sim_driver.robot": arm, "safety_supervisor.robot": arm})
    if args.policy:
        card = read_card(args.policy)  # refuses a folder that is not a bundle before anything starts
        if args.robot and not same_arm(card.robot, args.robot):
            raise ValueError(f"the bundle {args.policy} drives a {card.robot}, not the cell's {args.robot}")
        overrides[BUNDLE] = str(Path(args.policy).resolve())
    else:  # the parameter file's bundle; one that cannot be read is the policy node's to report
        card = _default_card(graph, overrides)
    if card is not None:
        # The simulated cell renders what the bundle takes (a real cell's cameras are set up to match).
        overrides.setdefault("sim_driver.image_size", str(card.image_size))
        overrides.setdefault("sim_driver.wrist_camera", str(card.wrist_camera).lower())
    if args.task:
        overrides["sim_driver.task"] = args.task
    for path, parameter in ((args.tls_cert, "tls_cert"), (args.tls_key, "tls_key")):
        if path:
            overrides[f"{PENDANT}.{parameter}"] = str(Path(path).resolve())
    return overrides, card


def check_pendant(graph: Graph, overrides: dict[str, str]) -> None:
    """Refuse (a ValueError, before anything starts) the address and certificate the pendant node would refuse:
    plain HTTP off loopback, a key that is not the certificate's, an expired certificate; warn of one expiring."""
    from robostral.pendant.tls import tls_for
    from robostral.ros.pendant_bridge import Settings

    def setting(name: str) -> str:
        value = overrides.get(f"{PENDANT}.{name}", graph.parameter(PENDANT, name))
        return str(getattr(Settings, name) if value is None else value)

    tls = tls_for(setting("host"), setting("tls_cert"), setting("tls_key"))
    if tls is not None and (warning := tls.expiry_warning()):
        print(f"robostral up: warning: {warning}")


def same_arm(first: str, second: str) -> bool:
    """Whether two robot references (names or description files) describe the same arm, by name."""
    return first == second or load_robot(first).name == load_robot(second).name


def _default_card(graph: Graph, overrides: dict[str, str]) -> Card | None:
    """The card of the bundle the policy node will load without --policy, or None if it cannot be read."""
    bundle = overrides.get(BUNDLE) or graph.parameter(POLICY_NODE, "bundle")
    try:
        return read_card(bundle) if bundle else None
    except BundleError:  # no card, or not one
        return None


def _override(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or "." not in key:
        raise ValueError(f"--param {text!r}: expected NODE.NAME=VALUE")
    return key, value
