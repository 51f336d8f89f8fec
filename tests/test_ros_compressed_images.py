"""Compressed camera frames (sensor_msgs/CompressedImage, JPEG or PNG) become the frames a policy's input is made of
(no ROS graph).

A PNG comes back exactly and a JPEG of a smooth scene within its loss, in every format string drivers and
image_transport write; the header is read before anything is decoded, so a mono or 16-bit image, data of another
codec, or a few KB that claim a huge image (a decompression bomb) are refused with the reason, as is data that does
not decode and a message over the size bound, before it is deserialized.
"""

from __future__ import annotations

import io
import re
import struct

import cv2
import numpy as np
import PIL.Image
import pytest
from rclpy.serialization import serialize_message
from sensor_msgs.msg import CompressedImage

from robostral.ros.messages import MAX_BYTES, MAX_PIXELS, TRANSPORTS, compressed_codec, frame_from_compressed
from sim.camera_input import CameraInput

HEIGHT, WIDTH = 48, 64
Y, X = np.mgrid[0:HEIGHT, 0:WIDTH]
RGB = np.stack([X * 4, Y * 5, (X + Y) * 2], axis=2).astype(np.uint8)  # smooth: JPEG keeps it within a few levels


def compressed(pixels: np.ndarray, ext: str = ".png", format: str = "png", **params: int) -> CompressedImage:
    """A CompressedImage of ``pixels`` (RGB, or one channel) encoded as OpenCV writes ``ext``."""
    bgr = pixels[:, :, ::-1] if pixels.ndim == 3 else pixels
    options = [value for pair in params.items() for value in (getattr(cv2, pair[0]), pair[1])]
    msg = CompressedImage(format=format)
    msg.data = cv2.imencode(ext, np.ascontiguousarray(bgr), options)[1].tobytes()
    return msg


def rgb_of(msg: CompressedImage) -> np.ndarray:
    pixels, bgr = frame_from_compressed(msg)
    assert bgr and pixels.shape == (HEIGHT, WIDTH, 3)
    return pixels[:, :, ::-1]


@pytest.mark.parametrize("format", ["png", "PNG", "rgb8; png compressed bgr8", "bgra8; png compressed bgra8"])
def test_a_png_comes_back_exactly_in_any_format_string(format):
    np.testing.assert_array_equal(rgb_of(compressed(RGB, ".png", format)), RGB)


@pytest.mark.parametrize("format", ["jpeg", "jpg", "bgr8; jpeg compressed bgr8", "rgb8; jpeg compressed bgr8"])
def test_a_jpeg_comes_back_within_its_loss_in_any_format_string(format):
    got = rgb_of(compressed(RGB, ".jpg", format, IMWRITE_JPEG_QUALITY=90))
    assert np.abs(got.astype(int) - RGB).max() <= 8


def test_a_png_with_alpha_or_a_palette_gives_its_colour():
    rgba = np.concatenate([RGB, np.full((HEIGHT, WIDTH, 1), 7, np.uint8)], axis=2)
    msg = CompressedImage(format="png")
    msg.data = cv2.imencode(".png", rgba[:, :, [2, 1, 0, 3]])[1].tobytes()
    np.testing.assert_array_equal(rgb_of(msg), RGB)
    palette, written = PIL.Image.fromarray(RGB).quantize(64), io.BytesIO()
    palette.save(written, format="PNG")
    msg.data = written.getvalue()
    np.testing.assert_array_equal(rgb_of(msg), np.asarray(palette.convert("RGB")))


def test_what_the_policy_sees_of_a_compressed_frame_is_what_it_sees_of_the_raw_one():
    spec = CameraInput(crop=(8, 0, 48, 48), rotate=90, mirror=True)
    pixels, bgr = frame_from_compressed(compressed(RGB))
    np.testing.assert_array_equal(spec.apply(pixels, 16, bgr), spec.apply(RGB, 16))


def exif_orientation(jpeg: bytes, orientation: int) -> bytes:
    """``jpeg`` with an EXIF segment (APP1) after its start marker saying the camera was turned (6: 90 degrees)."""
    tiff = b"II*\x00" + struct.pack("<IH", 8, 1) + struct.pack("<HHII", 0x0112, 3, 1, orientation) + bytes(4)
    segment = b"Exif\x00\x00" + tiff
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(segment) + 2) + segment + jpeg[2:]


def test_a_jpeg_is_read_past_its_exif_and_its_orientation_tag_is_ignored():
    msg = compressed(RGB, ".jpg", "jpeg")
    msg.data = exif_orientation(bytes(msg.data), 6)
    assert cv2.imdecode(np.frombuffer(msg.data, np.uint8), cv2.IMREAD_COLOR).shape[:2] == (WIDTH, HEIGHT)  # turned
    assert frame_from_compressed(msg)[0].shape[:2] == (HEIGHT, WIDTH)  # a camera's turn is its CameraInput's rotate


@pytest.mark.parametrize("format", ["theora", "16UC1; compressedDepth png", "", "jpeg2000", "png8",
                                    "bgr8; jpeg packed bgr8", "\x00" * 300])
def test_a_format_other_than_jpeg_or_png_is_refused(format):
    with pytest.raises(ValueError, match="^" + re.escape(f"compressed image format is {format!r:.60}; taken: jpeg "
                                                         "or png")):
        compressed_codec(format)


GREY = RGB[:, :, 1]


def with_png_colour_type(msg: CompressedImage, colour: int) -> CompressedImage:
    """``msg`` (a PNG) with the colour type its header declares changed (the header's checksum is not: it is read
    before anything is checked)."""
    data = bytearray(msg.data)
    data[25] = colour
    msg.data = bytes(data)
    return msg


@pytest.mark.parametrize("msg, why", [
    (compressed(GREY, ".jpg", "jpeg"), "mono images are refused: the policy reads colour (a one-channel jpeg)"),
    (compressed(GREY, ".png", "mono8; png compressed mono8"), "mono images are refused: the policy reads colour"),
    (with_png_colour_type(compressed(RGB), 4), "mono images are refused"),  # grey and alpha: OpenCV writes none
    (compressed(RGB.astype(np.uint16) * 257, ".png", "bgr16; png compressed bgr16"),
     "16-bit images are refused: the policy reads 8-bit colour"),
    (compressed(RGB, ".png", "jpeg"), "jpeg data does not start with a JPEG marker"),
    (compressed(RGB, ".jpg", "png"), "png data does not start with a PNG header"),
], ids=["grey jpeg", "grey png", "grey and alpha png", "16-bit png", "png data called jpeg", "jpeg data called png"])
def test_a_mono_or_16_bit_image_or_data_of_another_codec_is_refused_before_decoding(msg, why):
    with pytest.raises(ValueError, match="^" + re.escape(why)):
        frame_from_compressed(msg)


def cut(msg: CompressedImage, keep: float) -> CompressedImage:
    msg.data = bytes(msg.data)[: int(len(msg.data) * keep)]
    return msg


@pytest.mark.parametrize("msg, why", [
    (cut(compressed(RGB, ".jpg", "jpeg"), 0.6), "jpeg data of \\d+ bytes does not decode: corrupt or cut short"),
    (cut(compressed(RGB, ".png"), 0.6), "png data of \\d+ bytes does not decode: corrupt or cut short"),
    (cut(compressed(RGB, ".jpg", "jpeg"), 0.01), "jpeg data has no frame header before its image data"),
    (CompressedImage(format="jpeg"), "jpeg data does not start with a JPEG marker"),
], ids=["jpeg cut short", "png cut short", "jpeg cut in its header", "empty"])
def test_data_that_does_not_decode_is_refused(msg, why):
    with pytest.raises(ValueError, match="^" + why):
        frame_from_compressed(msg)


def test_a_decompression_bomb_is_refused_from_its_header():
    side = int(MAX_PIXELS**0.5) + 1  # a black square a little over the bound: a few KB of PNG
    bomb = CompressedImage(format="png")
    bomb.data = cv2.imencode(".png", np.zeros((side, side, 3), np.uint8))[1].tobytes()
    assert len(bomb.data) < 100_000
    with pytest.raises(ValueError, match=f"^png image of {side}x{side} pixels; at most {MAX_PIXELS} are decoded"):
        frame_from_compressed(bomb)
    huge = compressed(RGB, ".jpg", "jpeg")  # a small JPEG whose frame header claims 65535x65535
    at = bytes(huge.data).index(b"\xff\xc0")
    huge.data = bytes(huge.data)[:at + 5] + struct.pack(">HH", 65535, 65535) + bytes(huge.data)[at + 9:]
    with pytest.raises(ValueError, match="^jpeg image of 65535x65535 pixels"):
        frame_from_compressed(huge)


def test_a_compressed_frame_travels_beside_the_raw_topic_and_an_oversized_one_is_not_deserialized():
    transport = TRANSPORTS["compressed"]
    assert (transport.msg_type, transport.topic("/camera/image_raw")) == (CompressedImage,
                                                                           "/camera/image_raw/compressed")
    msg, pixels, bgr = transport.receive(serialize_message(compressed(RGB)))
    assert msg.format == "png" and bgr
    np.testing.assert_array_equal(pixels[:, :, ::-1], RGB)
    big = CompressedImage(format="jpeg")
    big.data = bytes(MAX_BYTES[CompressedImage])
    with pytest.raises(ValueError, match=r"^CompressedImage message of \d+ bytes; at most 8388608 are read"):
        transport.receive(serialize_message(big))
