"""Camera images in the encodings real drivers publish become the RGB pixels a policy takes (no ROS graph).

Colour order and alpha are exact; 4:2:2 YUV (BT.601, video range) comes back within rounding for pixel
pairs of one colour, which share their U and V. A mono image, an unknown encoding or short rows are refused.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from sensor_msgs.msg import Image

from robostral.ros.messages import ENCODINGS, image_from_msg

SHAPE = (4, 6, 3)
RGB = np.random.default_rng(0).integers(20, 236, SHAPE, dtype=np.uint8)  # inside YUV's video range


def message(encoding: str, pixels: np.ndarray, padding: int = 0) -> Image:
    """An Image of ``pixels`` (H, W, bytes per pixel), each row followed by ``padding`` bytes."""
    height, width = pixels.shape[:2]
    rows = pixels.reshape(height, -1)
    rows = np.concatenate([rows, np.full((height, padding), 255, np.uint8)], axis=1)
    msg = Image(height=height, width=width, encoding=encoding, step=rows.shape[1])
    msg.data = rows.tobytes()
    return msg


def yuv422(rgb: np.ndarray, yuyv: bool) -> np.ndarray:
    """(H, W/2, 4) byte pairs of an RGB image whose pixel pairs share a colour (BT.601, video range)."""
    r, g, b = (rgb[:, 0::2, i].astype(np.float64) for i in range(3))
    y = 16 + 0.257 * r + 0.504 * g + 0.098 * b
    u = 128 - 0.148 * r - 0.291 * g + 0.439 * b
    v = 128 + 0.439 * r - 0.368 * g - 0.071 * b
    order = (y, u, y, v) if yuyv else (u, y, v, y)
    return np.rint(np.stack(order, axis=2)).astype(np.uint8)


@pytest.mark.parametrize("encoding,pixels", [
    ("rgb8", RGB),
    ("bgr8", RGB[:, :, ::-1]),
    ("rgba8", np.concatenate([RGB, np.full((4, 6, 1), 9, np.uint8)], axis=2)),
    ("bgra8", np.concatenate([RGB[:, :, ::-1], np.full((4, 6, 1), 9, np.uint8)], axis=2)),
])
@pytest.mark.parametrize("padding", [0, 5])
def test_colour_orders_and_alpha_come_back_exactly_even_from_padded_rows(encoding, pixels, padding):
    np.testing.assert_array_equal(image_from_msg(message(encoding, np.ascontiguousarray(pixels), padding), SHAPE),
                                  RGB)


@pytest.mark.parametrize("encoding", ["yuv422", "uyvy", "yuv422_yuy2", "yuyv"])
def test_yuv422_in_either_byte_order_becomes_rgb_within_rounding(encoding):
    pairs = np.repeat(RGB[:, 0::2], 2, axis=1)  # each pixel pair one colour, as 4:2:2 can carry it
    yuyv = encoding in ("yuv422_yuy2", "yuyv")
    got = image_from_msg(message(encoding, yuv422(pairs, yuyv).reshape(4, 6, 2)), SHAPE)  # 2 bytes a pixel
    assert np.abs(got.astype(int) - pairs.astype(int)).max() <= 2


@pytest.mark.parametrize("encoding,why", [
    ("mono8", "image encoding is 'mono8'; a policy takes colour: one of rgb8, bgr8"),
    ("16UC1", "image encoding is '16UC1'; a policy takes colour"),
    ("\x00" * 500, "image encoding is '\\x00\\x00\\x00"),  # junk, cut short in the message
])
def test_an_image_without_colour_or_of_an_unknown_encoding_is_refused_with_the_reason(encoding, why):
    with pytest.raises(ValueError, match="^" + re.escape(why)):
        image_from_msg(message(encoding, RGB), SHAPE)


def test_rows_shorter_than_the_encoding_needs_are_refused():
    msg = message("rgba8", RGB)  # 3 bytes a pixel where rgba8 needs 4
    with pytest.raises(ValueError, match="image step 18 / 72 bytes do not match 4x6 rgba8"):
        image_from_msg(msg, SHAPE)
    assert set(ENCODINGS) >= {"rgb8", "bgr8", "rgba8", "bgra8", "yuv422", "yuyv"}
