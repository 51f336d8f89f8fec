"""Standard ROS 2 messages to and from numpy, with the checks every receiving node needs.

A ``from_*`` function raises ``ValueError`` with a message fit for ``/diagnostics``
when a message is malformed (wrong encoding or size, mismatched lengths, unknown
joints, NaN): nodes report it and drop the message instead of crashing.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from builtin_interfaces.msg import Duration, Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node
from rclpy.qos import QoSProfile
from rclpy.serialization import deserialize_message
from sensor_msgs.msg import CompressedImage, Image, JointState
from std_msgs.msg import String
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from robostral.safety import MAX_POINTS

MAX_JOINTS = 64  # names a joint state or trajectory may carry: far above any arm, far below a flood
# Serialized bytes read at most, per message type: a 1,000-point trajectory of 8 joints is about 90 KB, a joint
# state of 8 joints under 1 KB, a 1920x1080 rgb8 image 6.2 MB (as a PNG of a busy scene under 6 MB, a JPEG of a
# 4K frame at quality 95 about 3 MB), an instruction under 200 bytes. A bigger message is refused before it is
# deserialized (which holds the GIL: a flood of huge messages would stall the node).
MAX_BYTES = {JointState: 64 * 1024, JointTrajectory: 256 * 1024, Image: 8 * 1024 * 1024,
             CompressedImage: 8 * 1024 * 1024, String: 64 * 1024, DiagnosticArray: 256 * 1024}
# Pixels a compressed frame may decode to: a 4K camera's (25 MB as BGR). Its header says how many before anything
# is decoded, so a few KB that claim more (a decompression bomb) are refused without allocating them.
MAX_PIXELS = 3840 * 2160


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


def compressed_codec(format: str) -> str:
    """"jpeg" or "png": the codec a ``CompressedImage.format`` names, as drivers write it ("jpeg", "png", "jpg")
    or as image_transport's compressed plugin does ("bgr8; jpeg compressed bgr8"); ValueError for any other
    (compressedDepth, theora, ...)."""
    words = format.lower().rpartition(";")[2].split()
    codec = {"jpg": "jpeg"}.get(words[0], words[0]) if words else ""
    if codec not in _HEADERS or words[1:2] not in ([], ["compressed"]) or len(words) > 3:
        raise ValueError(f"compressed image format is {format!r:.60}; taken: jpeg or png, alone or as "
                         "image_transport writes them ('bgr8; jpeg compressed bgr8')")
    return codec


def frame_from_compressed(msg: CompressedImage) -> tuple[np.ndarray, bool]:
    """(pixels (H, W, 3) uint8, True: their channels are BGR) of a JPEG or PNG ``CompressedImage``: what
    ``frame_from_msg`` gives for a raw image, for ``CameraInput.apply``.

    The header is read first: ValueError with the reason, before anything is decoded, for a format
    ``compressed_codec`` refuses, data of another codec, a mono or 16-bit image (a policy reads 8-bit colour) or
    one of more than ``MAX_PIXELS``; after, for data that does not decode. The EXIF orientation is ignored: a
    camera's turn is the ``rotate`` of its ``CameraInput``, one place."""
    codec = compressed_codec(msg.format)
    data = np.frombuffer(msg.data, dtype=np.uint8)  # a view of the message's bytes
    height, width = _HEADERS[codec](data)
    if height * width > MAX_PIXELS:
        raise ValueError(f"{codec} image of {width}x{height} pixels; at most {MAX_PIXELS} are decoded")
    pixels = cv2.imdecode(data, cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    if pixels is None:
        raise ValueError(f"{codec} data of {len(data)} bytes does not decode: corrupt or cut short")
    return pixels, True


MONO = "mono images are refused: the policy reads colour"
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_GREY = (0, 4)  # colour types: grey, grey with alpha (2 RGB, 3 palette, 6 RGBA)
# JPEG frame headers (SOF0..SOF15 less DHT, JPG and DAC), markers that stand alone (TEM, RST0..7), start of scan
_JPEG_FRAMES = set(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_JPEG_ALONE = {0x01, *range(0xD0, 0xD8)}
_JPEG_SCAN = 0xDA


def _png_size(data: np.ndarray) -> tuple[int, int]:
    """(height, width) from a PNG's header (IHDR, always first); ValueError for a mono or 16-bit one."""
    if len(data) < 26 or data[:8].tobytes() != _PNG_SIGNATURE or data[12:16].tobytes() != b"IHDR":
        raise ValueError(f"png data does not start with a PNG header ({data[:8].tobytes()!r})")
    width, height, depth, colour = struct.unpack_from(">IIBB", data, 16)
    if colour in _PNG_GREY:
        raise ValueError(f"{MONO} (a grey png)")
    if depth > 8:
        raise ValueError(f"{depth}-bit images are refused: the policy reads 8-bit colour")
    return height, width


def _jpeg_size(data: np.ndarray) -> tuple[int, int]:
    """(height, width) from a JPEG's frame header, found by skipping the segments before it (EXIF, tables);
    ValueError for a mono or 12-bit one, or one with no frame header before its image data."""
    if data[:2].tobytes() != b"\xff\xd8":
        raise ValueError(f"jpeg data does not start with a JPEG marker ({data[:4].tobytes()!r})")
    at = 2
    while at + 4 <= len(data) and data[at] == 0xFF:
        marker = int(data[at + 1])
        if marker == 0xFF or marker in _JPEG_ALONE:  # a fill byte, or a marker without a length
            at += 1 if marker == 0xFF else 2
            continue
        if marker in _JPEG_FRAMES and at + 10 <= len(data):
            precision, height, width, components = struct.unpack_from(">BHHB", data, at + 4)
            if components == 1:
                raise ValueError(f"{MONO} (a one-channel jpeg)")
            if precision != 8 or components != 3:
                raise ValueError(f"jpeg of {components} channels of {precision} bits; the policy reads 8-bit colour")
            if not height or not width:
                break
            return height, width
        if marker == _JPEG_SCAN:
            break
        at += 2 + struct.unpack_from(">H", data, at + 2)[0]
    raise ValueError("jpeg data has no frame header before its image data: corrupt or cut short")


_HEADERS = {"jpeg": _jpeg_size, "png": _png_size}


@dataclass(frozen=True)
class Transport:
    """How a camera's frames travel, by image_transport's name: the message type, its topic beside the camera's
    (base) topic, and the decoder of a message to the frame ``CameraInput.apply`` takes."""

    msg_type: type
    suffix: str  # after the base topic: /camera/image_raw/compressed
    decode: Callable[[Any], tuple[np.ndarray, bool]]

    def topic(self, base: str) -> str:
        return base + self.suffix

    def receive(self, data: bytes) -> tuple[Any, np.ndarray, bool]:
        """(message, pixels, whether BGR) of a serialized frame (oversized ones unread: ``bounded_message``)."""
        msg = bounded_message(data, self.msg_type)
        return (msg, *self.decode(msg))


TRANSPORTS = {"raw": Transport(Image, "", frame_from_msg),
              "compressed": Transport(CompressedImage, "/compressed", frame_from_compressed)}


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
                   stamp: Time | None = None, velocities: np.ndarray | None = None,
                   accelerations: np.ndarray | None = None) -> JointTrajectory:
    """A ``JointTrajectory`` with one point per row of ``positions`` at ``times`` (s from start), with the
    rows of ``velocities`` and ``accelerations`` where given."""
    msg = JointTrajectory(joint_names=list(names))
    if stamp is not None:
        msg.header.stamp = stamp
    positions = np.atleast_2d(positions)
    msg.points = [JointTrajectoryPoint(positions=row.tolist(), time_from_start=duration(t))
                  for row, t in zip(positions.astype(np.float64), times)]
    for field, values in (("velocities", velocities), ("accelerations", accelerations)):
        if values is not None:
            for point, row in zip(msg.points, np.asarray(values, dtype=np.float64).reshape(positions.shape)):
                setattr(point, field, row.tolist())
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


def trajectory_rates_from_msg(msg: JointTrajectory) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(velocities, accelerations), each (P, J) or None when no point gives them, of a trajectory that
    ``trajectory_from_msg`` read; ValueError unless each is given for every joint of every point or of none,
    and accelerations only with velocities (what joint_trajectory_controller takes)."""
    rates = []
    for field in ("velocities", "accelerations"):
        lengths = {len(getattr(point, field)) for point in msg.points}
        if lengths == {0}:
            rates.append(None)
        elif lengths == {len(msg.joint_names)}:
            rates.append(np.array([list(getattr(point, field)) for point in msg.points], dtype=np.float64))
        else:
            raise ValueError(f"trajectory {field} must be given for all {len(msg.joint_names)} joints of every "
                             f"point or for none, got lengths {sorted(lengths)}")
    if rates[0] is None and rates[1] is not None:
        raise ValueError("trajectory accelerations are given without velocities")
    return rates[0], rates[1]


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
