"""`robostral dataset`: datasets from the real arm. `from-bag` turns a recording into episodes for `robostral train`;
`to-bag` turns episodes back into a recording, to replay and inspect them in ROS 2 tools.

The recording is a folder of MCAP files in the rosbag2 layout (from `robostral-recorder`
or `ros2 bag record -s mcap`) with the camera, joint states, instruction and controller
commands; the episodes are appended to DATASET (created if needed) in the layout
`robostral collect` writes. Cameras may be raw or compressed (JPEG, PNG) at any resolution: each
image is what the policy node makes of it, the crop, turn and mirror of `--params` (the deployment's
parameter file) or of the --camera-* and --wrist-camera-* options, then a resize to --image-size.
See robostral/ros/from_bag.py for how frames are made.

`to-bag` writes the chosen episodes of DATASET (all by default) as the recorder would have recorded them on the
cell: joint states, cameras, instruction, the policy's and the controllers' commands, one control tick per frame
(robostral/ros/to_bag.py). `ros2 bag play`, `ros2 bag info` and Foxglove open it, and `from-bag` with --rate the
dataset's fps reads the same frames back.

`merge` writes the episodes of several datasets of one kind (robot, joints, rate, cameras) into a new one, as they
are stored, e.g. demonstrations recorded on the cell beside the data a policy was trained on
(robostral/data/merge.py).
"""

from __future__ import annotations

import argparse
import warnings

from robostral.commands.arguments import ROBOT_HELP, given, positive_int, robot
from robostral.commands.camera import add_camera_input_arguments, camera_input

CAMERAS = ("camera", "wrist_camera")  # policy_node.CAMERAS (its module is too heavy to import for the parser)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("dataset", help="make datasets from recordings of the arm, and recordings from "
                                   "datasets", description=__doc__)
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    from_bag = actions.add_parser("from-bag", help="convert a recording (MCAP, rosbag2 layout) into a dataset")
    from_bag.add_argument("bag", metavar="BAG_DIR", help="the recording folder")
    from_bag.add_argument("--out", required=True, metavar="DATASET", help="dataset directory (created, or appended to)")
    # No defaults here: FromBagConfig's apply (its module imports mcap and rclpy, too heavy for the parser).
    from_bag.add_argument("--robot", type=robot, help=f"the arm that was recorded: {ROBOT_HELP}")
    from_bag.add_argument("--rate", type=positive_int, help="frames per second: the control rate [Hz]")
    from_bag.add_argument("--max-gap", type=float, help="seconds without images that end an episode")
    from_bag.add_argument("--image-size", type=positive_int,
                          help="the images' side [px]: the policy's input (default: the front camera's square's)")
    from_bag.add_argument("--params", metavar="YAML",
                          help="a ROS params file (launch/params/hardware.yaml): the policy node's camera_* and "
                               "wrist_camera_* parameters say what the policy sees; the options below override them")
    for camera in CAMERAS:
        add_camera_input_arguments(from_bag, camera)
    from_bag.set_defaults(run=from_bag_command)

    to_bag = actions.add_parser("to-bag", help="write episodes of a dataset as a recording (MCAP, rosbag2 layout) "
                                "for ros2 bag play and Foxglove")
    to_bag.add_argument("dataset", metavar="DATASET", help="the dataset directory (robostral collect's layout)")
    to_bag.add_argument("--out", required=True, metavar="BAG_DIR", help="the recording folder to write")
    to_bag.add_argument("--episodes", type=episode_indices, metavar="I,J,...",
                        help="the episodes to write, by index, in this order (default: all)")
    to_bag.add_argument("--force", action="store_true", help="replace the recording already at --out")
    to_bag.set_defaults(run=to_bag_command)

    merge = actions.add_parser("merge", help="write the episodes of several datasets into a new one")
    merge.add_argument("sources", nargs="+", type=merge_source, metavar="DATASET[:I,J,...]",
                       help="a dataset, all its episodes, or the ones listed by index")
    merge.add_argument("--out", required=True, metavar="DATASET", help="the new dataset directory")
    merge.set_defaults(run=merge_command)


def episode_indices(text: str) -> tuple[int, ...]:
    """Comma-separated episode indices, each an integer >= 0: "0,3,5"."""
    try:
        indices = tuple(int(word) for word in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be episode indices separated by commas (0,3,5), got {text!r}") from None
    if min(indices) < 0:
        raise argparse.ArgumentTypeError(f"episode indices must be >= 0, got {text}")
    return indices


def merge_source(text: str) -> tuple[str, tuple[int, ...] | None]:
    """DATASET or DATASET:I,J,...: the folder, and the episodes to take from it (None: all)."""
    folder, colon, selection = text.rpartition(":") if ":" in text else (text, "", "")
    return (folder, episode_indices(selection)) if colon else (text, None)


def merge_command(args: argparse.Namespace) -> int:
    import shlex
    import sys

    from robostral.data import load_dataset
    from robostral.data.merge import MergeSource, merge_datasets

    sources = [MergeSource(load_dataset(folder), episodes) for folder, episodes in args.sources]
    count = merge_datasets(args.out, sources, "robostral " + shlex.join(sys.argv[1:]))
    print(f"{args.out}: {count} episodes from {len(sources)} datasets")
    return 0


def from_bag_command(args: argparse.Namespace) -> int:
    from robostral.ros.from_bag import FromBagConfig, from_bag  # mcap is imported only when converting
    from robostral.ros.policy_node import camera_spec, parameters_in_file

    parameters = parameters_in_file(args.params)
    cameras = {camera: camera_input(args, camera, camera_spec(camera, parameters.__getitem__)[0]) for camera in CAMERAS}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*ends early")  # reported below, once per file
        report = from_bag(FromBagConfig(bag=args.bag, out=args.out, **cameras,
                                        **given(args, "robot", "rate", "max_gap", "image_size")))
    for name in report.truncated:
        print(f"{name} ended early (the recorder was killed): read up to its last complete chunk")
    print(f"added {report.episodes} episodes ({report.frames} frames) from {args.bag}; "
          f"{args.out}: {report.total_episodes} episodes")
    return 0


def to_bag_command(args: argparse.Namespace) -> int:
    from robostral.ros.to_bag import ToBagConfig, to_bag  # mcap and rclpy are imported only when converting

    report = to_bag(ToBagConfig(dataset=args.dataset, out=args.out, episodes=args.episodes, force=args.force))
    print(f"wrote {report.episodes} episodes ({report.frames} frames, {report.seconds:.1f} s at {report.fps} Hz) "
          f"of {args.dataset} into {args.out} ({', '.join(report.files)})")
    return 0
