"""`robostral fake-cell`: a Universal Robots cell played by the simulator, to rehearse `robostral up --hardware`.

It publishes and takes what a UR arm's ros2_control bring-up and a RealSense camera do, by their
names (/scaled_joint_trajectory_controller/joint_trajectory, /joint_states at 500 Hz, 640x480 bgr8 on
/camera/camera/color/image_raw), so that the hardware graph's configuration (launch/graph.yaml's
remap, launch/params/hardware.yaml) is tried before a real arm is. `--silent`, `--freeze-camera` and
`--camera-size` start it with a fault; the node's parameters of the same names (silent, freeze_camera,
camera_width, camera_height) change them while it runs. Runs until Ctrl-C (docs/deployment.md).
"""

from __future__ import annotations

import argparse
import json

from robostral.commands.arguments import ROBOT_HELP, positive_int, robot


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("fake-cell", help="play a UR cell (ros2_control names) to rehearse a bring-up",
                                   description=__doc__)
    # No defaults here: an option not given leaves the node's own (robostral/ros/fake_cell.py)
    parser.add_argument("--robot", type=robot, help=f"the arm: {ROBOT_HELP} (default: ur5)")
    parser.add_argument("--task", help="the scene on its table: reach, push, pick_place or stack")
    parser.add_argument("--seed", type=int, help="the scene's seed")
    parser.add_argument("--tf-prefix", help="prepended to every joint name, as ur_robot_driver's tf_prefix")
    parser.add_argument("--joint-state-rate", type=positive_int, metavar="HZ",
                        help="joint states (and physics steps) a second: a UR e-Series 500, a CB3 125")
    parser.add_argument("--camera-rate", type=_positive_float, metavar="FPS", help="camera frames a second")
    parser.add_argument("--camera-size", type=_size, metavar="WxH", help="the camera's mode, e.g. 1280x720")
    parser.add_argument("--render-scale", type=_positive_float, metavar="S",
                        help="the fraction of the frame's size drawn, then scaled up (at most 1)")
    parser.add_argument("--realtime-priority", type=int, metavar="N",
                        help="SCHED_FIFO priority 1..99, as ros2_control runs its loop (robostral/ros/realtime.py)")
    parser.add_argument("--silent", action="store_true", help="publish no joint states (a dead controller)")
    parser.add_argument("--freeze-camera", action="store_true", help="the first frame, again and again (stale)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from robostral.ros.fake_cell import main  # rclpy and the simulator only for the commands that need them
    from robostral.ros.security import default_discovery_range

    default_discovery_range()  # loopback-only discovery unless the site chose a range, as `robostral up`
    main(["robostral fake-cell", "--ros-args", *ros_parameters(args)])
    return 0


def ros_parameters(args: argparse.Namespace) -> list[str]:
    """``-p NAME:=VALUE`` for each option given; the node's own defaults for the others (one default, there)."""
    values = {"robot": args.robot, "task": args.task, "seed": args.seed, "tf_prefix": args.tf_prefix,
              "joint_state_rate": args.joint_state_rate, "camera_rate": args.camera_rate,
              "render_scale": args.render_scale, "realtime_priority": args.realtime_priority,
              "silent": args.silent or None,
              "freeze_camera": args.freeze_camera or None}
    if args.camera_size:
        values["camera_width"], values["camera_height"] = args.camera_size
    # JSON is YAML, which is how rcl reads a -p value: a string stays a string, a float keeps its point
    return [word for name, value in values.items() if value is not None
            for word in ("-p", f"{name}:={json.dumps(value)}")]


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text}")
    return value


def _size(text: str) -> tuple[int, int]:
    """``640x480`` -> (640, 480): width x height in pixels."""
    width, sep, height = text.lower().partition("x")
    if not (sep and width.isdigit() and height.isdigit() and int(width) > 0 and int(height) > 0):
        raise argparse.ArgumentTypeError(f"must be WIDTHxHEIGHT in pixels, e.g. 640x480, got {text!r}")
    return int(width), int(height)
