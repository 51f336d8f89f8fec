"""A look at a live camera topic (``robostral camera preview``): its frames, and what the policy would see of them.

``sample`` listens on the graph (its own rclpy context, the environment's domain) for a few frames,
read exactly as the policy node reads them (``Transport.receive``: bounded, decoded); ``preview_image``
puts the last one, with the crop drawn on it, beside the ``CameraInput`` output scaled up pixel for
pixel, the image a person checks a camera's mounting and crop against.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import cv2
import numpy as np
import rclpy
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node

from robostral.ros import contract
from robostral.ros.messages import TRANSPORTS, Transport
from sim.camera_input import CameraInput

CROP_COLOUR = (255, 0, 255)  # RGB: magenta, rare in a cell
GAP = 8  # px between the frame and the policy's view


@dataclass(frozen=True)
class Sample:
    """What ``sample`` saw on a topic."""

    topic: str
    encoding: str  # an Image's encoding, or a CompressedImage's format
    frame_id: str
    frames: int  # received and decoded
    rate: float  # Hz at which they arrived (0 for one frame)
    pixels: np.ndarray  # the last frame, (H, W, 3 or 4) uint8
    bgr: bool  # whether its channels are BGR


def sample(topic: str, transport: Transport, frames: int, timeout: float) -> Sample:
    """Up to ``frames`` frames of ``topic`` within ``timeout`` s; ValueError saying what the graph offers instead
    when none came (the topic's publishers, the image topics there are), or why those that came were refused."""
    context = Context()
    rclpy.init(args=[], context=context)
    node = rclpy.create_node("robostral_camera_preview", context=context)
    arrivals: list[float] = []  # monotonic s of every frame, refused ones too
    latest: list[tuple] = []  # (message, pixels, bgr) of the last frame that decoded
    refused: list[str] = []

    def on_frame(data: bytes) -> None:
        arrivals.append(time.monotonic())
        try:
            latest[:] = [transport.receive(data)]
        except ValueError as error:
            refused.append(str(error))

    node.create_subscription(transport.msg_type, topic, on_frame, contract.IMAGE_QOS, raw=True)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    try:
        deadline = time.monotonic() + timeout
        while len(arrivals) < frames and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.05)
        if not latest:
            raise ValueError(nothing_on(node, topic, transport, timeout, refused))
    finally:
        executor.shutdown()
        node.destroy_node()
        context.try_shutdown()
    ((msg, pixels, bgr),) = latest
    rate = (len(arrivals) - 1) / (arrivals[-1] - arrivals[0]) if len(arrivals) > 1 else 0.0
    encoding = msg.format if hasattr(msg, "format") else msg.encoding
    return Sample(topic, encoding, msg.header.frame_id, len(arrivals) - len(refused), rate, pixels, bgr)


def nothing_on(node: Node, topic: str, transport: Transport, timeout: float, refused: list[str]) -> str:
    """Why no usable frame came: the refusals, or the topic's publishers and the published image topics."""
    if refused:
        return f"no usable frame on {topic} within {timeout:g} s: {len(refused)} refused, the last: {refused[-1]}"
    wanted = _type_name(transport.msg_type)
    publishers = [f"{p.node_name} ({p.topic_type})" for p in node.get_publishers_info_by_topic(topic)]
    images = {_type_name(t.msg_type) for t in TRANSPORTS.values()}
    topics = [f"{name} ({types[0]})" for name, types in node.get_topic_names_and_types()
              if set(types) & images and node.count_publishers(name)]
    return (f"no frame on {topic} ({wanted}) within {timeout:g} s; its publishers: {', '.join(publishers) or 'none'}; "
            f"image topics on the graph (ROS_DOMAIN_ID, ROS_AUTOMATIC_DISCOVERY_RANGE as set here): "
            f"{', '.join(sorted(topics)) or 'none'}")


def _type_name(msg_type: type) -> str:
    """"sensor_msgs/msg/Image" for ``sensor_msgs.msg.Image``."""
    return f"{msg_type.__module__.split('.')[0]}/msg/{msg_type.__name__}"


def preview_image(pixels: np.ndarray, bgr: bool, spec: CameraInput, size: int) -> tuple[np.ndarray, int]:
    """(the preview as (H, W, 3) uint8 RGB, the scale of its right half): the frame with ``spec``'s crop drawn on
    it, and beside it ``spec.apply`` (what the policy sees at ``size``) scaled up to about the frame's height,
    nearest neighbour; ValueError, as the policy node gives, where the spec does not fit the frame."""
    seen = spec.apply(pixels, size, bgr)
    frame = (pixels[:, :, 2::-1] if bgr else pixels[:, :, :3]).copy()  # RGB, to draw on (not the message's)
    if spec.crop is not None:
        x, y, width, height = spec.crop
        thickness = max(1, min(frame.shape[:2]) // 240)
        cv2.rectangle(frame, (x, y), (x + width - 1, y + height - 1), CROP_COLOUR, thickness)
    scale = max(1, frame.shape[0] // size)
    seen = cv2.resize(seen, (size * scale, size * scale), interpolation=cv2.INTER_NEAREST)
    canvas = np.full((max(frame.shape[0], len(seen)), frame.shape[1] + GAP + len(seen), 3), 255, np.uint8)
    canvas[:frame.shape[0], :frame.shape[1]] = frame
    canvas[:len(seen), frame.shape[1] + GAP:] = seen
    return canvas, scale


def write_png(path: str, rgb: np.ndarray) -> None:
    """An (H, W, 3) uint8 RGB image as a PNG at ``path``; ValueError where it cannot be written."""
    try:
        written = cv2.imwrite(path, np.ascontiguousarray(rgb[:, :, ::-1]))
    except cv2.error:  # a name OpenCV has no writer for
        written = False
    if not written:
        raise ValueError(f"could not write {path}: is its folder there, and does its name end in .png?")
