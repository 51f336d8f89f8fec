"""`robostral camera preview`: what a live camera publishes, and what the policy would see of it, as one PNG.

It subscribes to the camera's topic on the running graph (raw, or ``--compressed``: JPEG or PNG on
TOPIC/compressed), prints the frames' resolution, encoding, rate and frame_id, and writes the last
frame with the crop drawn on it beside the policy's input (the camera's ``CameraInput`` and the
resize, exactly as the policy node does them), scaled up pixel for pixel. ``--params`` reads the
spec from the deployment's own parameter file (the policy node's camera_* or wrist_camera_*
parameters), so that what is checked is what runs; ``--crop``, ``--rotate`` and ``--mirror`` try
another before it is written there.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from robostral.commands.arguments import positive_int

if TYPE_CHECKING:
    from sim.camera_input import CameraInput


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("camera", help="check a cell's cameras", description=__doc__)
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    preview = actions.add_parser("preview", help="a live camera's frame and what the policy sees of it, as a PNG",
                                 description=__doc__)
    preview.add_argument("--topic", help="the camera's topic (default: the policy node's for --camera, "
                                         "/camera/image_raw or /wrist_camera/image_raw)")
    preview.add_argument("--compressed", action=argparse.BooleanOptionalAction,
                         help="read CompressedImage (JPEG, PNG) on TOPIC/compressed (default: --params' transport, "
                              "else raw)")
    add_camera_input_arguments(preview)
    size = preview.add_mutually_exclusive_group()
    size.add_argument("--size", type=positive_int, help="the policy's input side [px]")
    size.add_argument("--bundle", metavar="DIR", help="a policy bundle: its card's input size (default: the bundle "
                                                      "--params names)")
    preview.add_argument("--params", metavar="YAML",
                         help="a ROS params file (launch/params/hardware.yaml): the policy node's parameters of "
                              "--camera give the crop, turn, mirror and transport; the options above override them")
    preview.add_argument("--camera", default="camera", help="camera or wrist_camera: whose parameters and topic")
    preview.add_argument("--frames", type=positive_int, default=10, help="frames to take (the rate is theirs)")
    preview.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for them")
    preview.add_argument("--out", default="preview.png", help="the PNG to write")
    preview.set_defaults(run=preview_command)


def add_camera_input_arguments(parser: argparse.ArgumentParser, camera: str = "") -> None:
    """Options ``--crop``, ``--rotate``, ``--mirror`` (``--wrist-camera-crop``... for the policy node's camera
    "wrist_camera") that say what the policy sees of a camera, as ``sim.camera_input.CameraInput`` takes it."""
    prefix = f"{camera.replace('_', '-')}-" if camera else ""
    whose = f"the {camera.replace('_', ' ')}'s" if camera else "the camera's"
    parser.add_argument(f"--{prefix}crop", type=int, nargs=4, metavar=("X", "Y", "W", "H"),
                        help=f"the square of {whose} frame the policy sees, in its pixels (default: the whole frame)")
    parser.add_argument(f"--{prefix}rotate", type=int, metavar="DEGREES",
                        help=f"turn {whose} crop 0, 90, 180 or 270 degrees clockwise")
    parser.add_argument(f"--{prefix}mirror", action=argparse.BooleanOptionalAction,
                        help=f"flip {whose} crop left-right, after the turn")


def camera_input(args: argparse.Namespace, camera: str = "", base: CameraInput | None = None) -> CameraInput:
    """The ``CameraInput`` that the options of ``add_camera_input_arguments`` give, over ``base`` (default: the
    whole frame as it is); ValueError with the reason for one that cannot be."""
    from dataclasses import replace

    from sim.camera_input import CameraInput

    dest = f"{camera}_" if camera else ""
    given = {name: getattr(args, dest + name) for name in ("crop", "rotate", "mirror")}
    return replace(base or CameraInput(), **{name: value for name, value in given.items() if value is not None})


def preview_command(args: argparse.Namespace) -> int:
    from robostral.bundle.card import read_card
    from robostral.ros.camera_preview import preview_image, sample, write_png
    from robostral.ros.messages import TRANSPORTS
    from robostral.ros.policy_node import CAMERA_TOPICS, camera_spec, parameters_in_file

    if args.camera not in CAMERA_TOPICS:
        raise ValueError(f"--camera must be one of {', '.join(CAMERA_TOPICS)}, got {args.camera!r}")
    parameters = parameters_in_file(args.params)
    spec, transport = camera_spec(args.camera, parameters.__getitem__)
    spec = camera_input(args, base=spec)
    if args.compressed is not None:
        transport = TRANSPORTS["compressed" if args.compressed else "raw"]
    bundle = args.bundle or parameters.get("bundle")
    if not args.size and not bundle:
        raise ValueError("the policy's input size is needed: --size N, --bundle DIR, or --params naming a bundle")
    card = None if args.size else read_card(bundle)
    size = args.size or (card.wrist_shape[0] if args.camera == "wrist_camera" and card.wrist_camera
                         else card.image_size)

    found = sample(transport.topic(args.topic or CAMERA_TOPICS[args.camera]), transport, args.frames, args.timeout)
    height, width = found.pixels.shape[:2]
    rate = f"{found.rate:.1f} Hz over {found.frames} frames" if found.frames > 1 else "1 frame: no rate"
    print(f"{found.topic}: {width}x{height} {found.encoding}, {rate}, frame_id {found.frame_id!r}")
    crop = "the whole frame" if spec.crop is None else f"crop {list(spec.crop)}"
    print(f"the policy sees: {crop}, rotate {spec.rotate}, mirror {'on' if spec.mirror else 'off'} -> {size}x{size}")
    image, scale = preview_image(found.pixels, found.bgr, spec, size)
    write_png(args.out, image)
    print(f"wrote {args.out}: the frame, and beside it the policy's input scaled {scale}x")
    return 0
