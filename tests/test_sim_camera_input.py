"""What a policy sees of a camera (sim.camera_input): crop, turn, mirror, area resize, and the refusals."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from sim.camera_input import CameraInput, area_resize
from sim.config import ConfigError, from_dict

SIZE = 96


def quadrants(side: int) -> np.ndarray:
    """A square RGB image in four flat colours: red top left, green top right, blue bottom left, white bottom right."""
    image = np.zeros((side, side, 3), np.uint8)
    half = side // 2
    image[:half, :half] = (255, 0, 0)
    image[:half, half:] = (0, 255, 0)
    image[half:, :half] = (0, 0, 255)
    image[half:, half:] = (255, 255, 255)
    return image


def corners(image: np.ndarray) -> list[tuple[int, ...]]:
    """The colours at the four corners: top left, top right, bottom left, bottom right."""
    last = image.shape[0] - 1
    return [tuple(int(v) for v in image[y, x]) for y, x in ((0, 0), (0, last), (last, 0), (last, last))]


RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)


def test_a_720p_frame_cropped_square_keeps_what_the_crop_holds_at_the_policys_size():
    frame = np.zeros((720, 1280, 3), np.uint8)
    frame[:, 280:1000] = quadrants(720)  # the part of the view the policy was trained on
    image = CameraInput(crop=(280, 0, 720, 720)).apply(frame, SIZE)
    assert image.shape == (SIZE, SIZE, 3) and image.dtype == np.uint8
    assert corners(image) == [RED, GREEN, BLUE, WHITE]


@pytest.mark.parametrize("rotate,mirror,expected", [
    (90, False, [BLUE, RED, WHITE, GREEN]),  # clockwise: the bottom left comes to the top left
    (180, False, [WHITE, BLUE, GREEN, RED]),
    (270, False, [GREEN, WHITE, RED, BLUE]),
    (0, True, [GREEN, RED, WHITE, BLUE]),  # left and right swap
    (90, True, [RED, BLUE, GREEN, WHITE]),  # turned, then mirrored
])
def test_a_camera_mounted_turned_is_turned_back_then_mirrored(rotate, mirror, expected):
    assert corners(CameraInput(rotate=rotate, mirror=mirror).apply(quadrants(192), SIZE)) == expected


@pytest.mark.parametrize("side", [96, 100, 192, 480, 720, 1080])
def test_the_resize_is_area_interpolation(side):
    """Within 2 levels of OpenCV's direct area resize on a smooth image, whatever the factor."""
    y, x = np.mgrid[0:side, 0:side] / side
    smooth = np.stack([255 * x, 255 * y, 127 + 120 * np.sin(6 * x + 4 * y)], axis=2).astype(np.uint8)
    direct = cv2.resize(smooth, (SIZE, SIZE), interpolation=cv2.INTER_AREA)
    assert np.abs(area_resize(smooth, SIZE).astype(int) - direct.astype(int)).max() <= 2


def test_a_smaller_square_frame_is_scaled_up_and_one_at_size_passes_unchanged():
    frame = quadrants(SIZE)
    np.testing.assert_array_equal(CameraInput().apply(frame, SIZE), frame)
    assert corners(CameraInput().apply(quadrants(48), SIZE)) == [RED, GREEN, BLUE, WHITE]


@pytest.mark.parametrize("spec,frame,message", [
    (CameraInput(), (480, 640), "the image is 480x640, not square: configure a square crop"),
    (CameraInput(crop=(0, 0, 640, 400)), (480, 640), "the crop is 400x640, not square"),
    (CameraInput(crop=(600, 0, 480, 480)), (480, 640), "crop [600, 0, 480, 480] does not fit a 480x640 image"),
])
def test_a_frame_the_spec_cannot_make_square_is_refused_with_the_reason(spec, frame, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        spec.apply(np.zeros((*frame, 3), np.uint8), SIZE)


@pytest.mark.parametrize("values,message", [
    ({"crop": [0, 0, 10]}, "CameraInput.crop must be tuple"),
    ({"crop": [0, -1, 10, 10]}, "crop must start at x, y >= 0"),
    ({"rotate": 45}, "rotate must be one of (0, 90, 180, 270)"),
    ({"scale": 2}, "unknown key"),
])
def test_a_spec_that_cannot_be_is_refused_on_load(values, message):
    with pytest.raises((ConfigError, ValueError), match=message.replace("(", r"\(").replace(")", r"\)")):
        from_dict(CameraInput, values)


def test_bgr_and_alpha_frames_come_out_rgb():
    rgb = quadrants(192)
    bgra = np.concatenate([rgb[:, :, ::-1], np.full((192, 192, 1), 7, np.uint8)], axis=2)
    assert corners(CameraInput().apply(bgra, SIZE, bgr=True)) == [RED, GREEN, BLUE, WHITE]
    assert corners(CameraInput(crop=(0, 0, 96, 96)).apply(rgb[:, :, ::-1], SIZE, bgr=True)) == [RED] * 4
