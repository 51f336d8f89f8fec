"""Standard ROS 2 messages to and from numpy, with the checks every receiving node needs.

A ``from_*`` function raises ``ValueError`` with a message fit for ``/diagnostics``
when a message is malformed (wrong encoding or size, mismatched lengths, unknown
joints, NaN): nodes report it and drop the message instead of crashing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import cv2
import numpy as np
from builtin_interfaces.msg import Duration, Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node
from rclpy.qos import QoSProfile
from rclpy.serialization import deserialize_message
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import String
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from robostral.safety import MAX_POINTS

MAX_JOINTS = 64  # names a joint state or trajectory may carry: far above any arm, far below a flood
# Serialized bytes read at most, per message type: a 1,000-point trajectory of 8 joints is about 90 KB, a joint
# state of 8 joints under 1 KB, a 1920x1080 rgb8 image 6.2 MB, an instruction under 200 bytes. A bigger message
# is refused before it is deserialized (which holds the GIL: a flood of huge messages would stall the node).
MAX_BYTES = {JointState: 64 * 1024, JointTrajectory: 256 * 1024, Image: 8 * 1024 * 1024, String: 64 * 1024,
             DiagnosticArray: 256 * 1024}


def bounded_message(data: bytes, msg_type: type, limit: int | None = None):
    """The message of type ``msg_type`` serialized in ``data`` (what a ``raw=True`` subscription receives);
    ValueError when it is larger than ``limit`` (default: ``MAX_BYTES``) allows or does not deserialize."""
    limit = MAX_BYTES[msg_type] if limit is None else limit
    if len(data) > limit:
        raise ValueError(f"{msg_type.__name__} message of {len(data)} bytes; at most {limit} are read")
    try:
        return deserialize_message(data, msg_type)
    except Exception as error:  # rclpy raises whatever its C layer met: malformed CDR, bad UTF-8
        raise ValueError(f"{msg_type.__name__} message does not deserialize: {error}") from None

LEVELS = {"ok": DiagnosticStatus.OK, "warn": DiagnosticStatus.WARN, "error": DiagnosticStatus.ERROR,
          "stale": DiagnosticStatus.STALE}


def seconds(stamp: Time | Duration) -> float:
    """A stamp or duration in seconds."""
    return stamp.sec + stamp.nanosec * 1e-9


def duration(value: float) -> Duration:
    nanoseconds = int(round(value * 1e9))
    return Duration(sec=nanoseconds // 1_000_000_000, nanosec=nanoseconds % 1_000_000_000)


def image_msg(pixels: np.ndarray, stamp: Time, frame_id: str = "camera") -> Image:
    """An rgb8 ``Image`` from an (H, W, 3) uint8 array."""
    height, width, _ = pixels.shape
    msg = Image(height=height, width=width, encoding="rgb8", is_bigendian=0, step=3 * width)
    msg.header.stamp, msg.header.frame_id = stamp, frame_id
    msg.data = np.ascontiguousarray(pixels, dtype=np.uint8).tobytes()
    return msg


# What a camera driver may publish, as ROS names it -> bytes per pixel. ROS's "yuv422" is UYVY byte order,
# "yuv422_yuy2" (and "yuyv", as some drivers write it) YUYV: two pixels share one U and one V.
ENCODINGS = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4, "yuv422": 2, "uyvy": 2, "yuv422_yuy2": 2, "yuyv": 2}
_FROM_YUV = {"yuv422": cv2.COLOR_YUV2RGB_UYVY, "uyvy": cv2.COLOR_YUV2RGB_UYVY,
             "yuv422_yuy2": cv2.COLOR_YUV2RGB_YUYV, "yuyv": cv2.COLOR_YUV2RGB_YUYV}  # BT.601, video range


def frame_from_msg(msg: Image) -> tuple[np.ndarray, bool]:
    """(pixels (H, W, 3 or 4) uint8, whether their channels are BGR) of an image in any encoding of ``ENCODINGS``.

    The pixels are a view of the message where they can be, alpha included (no copy of a large frame: crop
    first, then drop alpha and swap the channels of what is left). ValueError with the reason for another
    encoding (a mono image has no colour to give), or data that does not fill the rows ``step`` says (rows
    may be padded)."""
    encoding = msg.encoding.lower()
    if encoding not in ENCODINGS:
        known = ", ".join(ENCODINGS)
        raise ValueError(f"image encoding is {msg.encoding!r:.40}; a policy takes colour: one of {known}")
    row = ENCODINGS[encoding] * msg.width
    if msg.step < row or len(msg.data) != msg.step * msg.height or (encoding in _FROM_YUV and msg.width % 2):
        raise ValueError(f"image step {msg.step} / {len(msg.data)} bytes do not match {msg.height}x{msg.width} "
                         f"{encoding}")
    rows = np.frombuffer(msg.data, dtype=np.uint8).reshape(msg.height, msg.step)[:, :row]
    if encoding in _FROM_YUV:
        pairs = np.ascontiguousarray(rows).reshape(msg.height, msg.width, 2)
        return cv2.cvtColor(pairs, _FROM_YUV[encoding]), False
    return rows.reshape(msg.height, msg.width, ENCODINGS[encoding]), encoding.startswith("bgr")


def image_from_msg(msg: Image, shape: tuple[int, int, int] | None = None) -> np.ndarray:
    """The (H, W, 3) uint8 RGB pixels of an image (see ``frame_from_msg``), of exactly ``shape`` if given."""
    if shape is not None and (msg.height, msg.width, 3) != tuple(shape):
        frame_from_msg(msg)  # an encoding it cannot take is the first thing to say
        raise ValueError(f"image is {msg.height}x{msg.width}, expected {shape[0]}x{shape[1]}")
    pixels, bgr = frame_from_msg(msg)
    return np.ascontiguousarray(pixels[:, :, 2::-1] if bgr else pixels[:, :, :3])


def subscribe_bounded(node: Node, msg_type: type, topic: str, callback: Callable[[object], None], qos: QoSProfile,
                      refused: Callable[[str], None]):
    """A subscription of ``node`` that hands ``callback`` each message within ``MAX_BYTES`` (deserialized) and
    ``refused`` the reason for any other, which is never deserialized."""
    def receive(data: bytes) -> None:
        try:
            msg = bounded_message(data, msg_type)
        except ValueError as error:
            refused(str(error))
            return
        callback(msg)

    return node.create_subscription(msg_type, topic, receive, qos, raw=True)


def joint_state_msg(names: Sequence[str], positions, velocities, stamp: Time) -> JointState:
    msg = JointState(name=list(names), position=[float(v) for v in positions],
                     velocity=[float(v) for v in velocities])
    msg.header.stamp = stamp
    return msg


class NonFinite(ValueError):
    """A message carries NaN or infinite values: a broken sensor or a lie, not merely a malformed message."""


def joint_state_from_msg(msg: JointState, names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Positions and velocities of ``names`` (in that order); velocities are zero when not reported."""
    if len(msg.name) > MAX_JOINTS:
        raise ValueError(f"joint state has {len(msg.name)} names; at most {MAX_JOINTS} are read")
    if len(msg.position) != len(msg.name) or (msg.velocity and len(msg.velocity) != len(msg.name)):
        raise ValueError(f"joint state has {len(msg.name)} names, {len(msg.position)} positions "
                         f"and {len(msg.velocity)} velocities")
    index = {name: i for i, name in enumerate(msg.name)}
    missing = [name for name in names if name not in index]
    if missing:
        raise ValueError(f"joint state lacks {', '.join(missing)}")
    rows = [index[name] for name in names]
    positions = np.asarray(msg.position, dtype=np.float64)[rows]
    velocities = np.asarray(msg.velocity, dtype=np.float64)[rows] if msg.velocity else np.zeros(len(rows))
    if not (np.isfinite(positions).all() and np.isfinite(velocities).all()):
        raise NonFinite("joint state has NaN or infinite values")
    return positions, velocities


def trajectory_msg(names: Sequence[str], positions: np.ndarray, times: Sequence[float],
                   stamp: Time | None = None) -> JointTrajectory:
    """A ``JointTrajectory`` with one point per row of ``positions`` at ``times`` (s from start)."""
    msg = JointTrajectory(joint_names=list(names))
    if stamp is not None:
        msg.header.stamp = stamp
    msg.points = [JointTrajectoryPoint(positions=[float(v) for v in row], time_from_start=duration(t))
                  for row, t in zip(np.atleast_2d(positions), times)]
    return msg


def trajectory_from_msg(msg: JointTrajectory) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(joint names, positions (P, J), times (P,)) of a trajectory whose points all have every joint, at most
    ``MAX_POINTS`` of them (counted before anything is converted: bounded work per message)."""
    if len(msg.joint_names) > MAX_JOINTS or len(msg.points) > MAX_POINTS:
        raise ValueError(f"trajectory has {len(msg.joint_names)} joints and {len(msg.points)} points; "
                         f"at most {MAX_JOINTS} and {MAX_POINTS} are read")
    names = list(msg.joint_names)
    if not names or len(set(names)) != len(names):
        raise ValueError(f"trajectory joint names must be distinct and non-empty, got {names}")
    if not msg.points:
        raise ValueError("trajectory has no points")
    for i, point in enumerate(msg.points):
        if len(point.positions) != len(names):
            raise ValueError(f"trajectory point {i} has {len(point.positions)} positions for {len(names)} joints")
    positions = np.array([list(point.positions) for point in msg.points], dtype=np.float64)
    times = np.array([seconds(point.time_from_start) for point in msg.points])
    return names, positions, times


def diagnostic_array(stamp: Time, name: str, level: str, message: str, values: Mapping[str, object]) -> DiagnosticArray:
    """A node's report for /diagnostics: one ``DiagnosticStatus``; ``level`` is ok, warn, error or stale."""
    status = DiagnosticStatus(level=LEVELS[level], name=name, message=message,
                              values=[KeyValue(key=str(k), value=str(v)) for k, v in values.items()])
    array = DiagnosticArray(status=[status])
    array.header.stamp = stamp
    return array


def diagnostic_values(status: DiagnosticStatus) -> dict[str, str]:
    """A ``DiagnosticStatus``'s key-value pairs as a dict (what reports are read by)."""
    return {kv.key: kv.value for kv in status.values}
