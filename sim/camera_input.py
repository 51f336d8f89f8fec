"""What a policy sees of a camera: a crop in source pixels, a turn or mirror, then an area resize to its input.

One spec per camera, given in the cell's parameter file and recorded in the bundle's card, so that the
policy node, from-bag and the simulator make the same square image of the same part of the view. The
resize is area interpolation: an exact block average by the largest whole factor of the side first
(OpenCV's fast path), then an area resize of what is left, so a 1280x720 frame takes well under a millisecond.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

ROTATIONS = (0, 90, 180, 270)  # degrees, clockwise, as the image is turned after the crop
_ROTATE = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}

cv2.setNumThreads(1)  # the policy node's one thread: OpenCV's pool would compete with inference


@dataclass(frozen=True)
class CameraInput:
    """Crop (x, y, width, height in source pixels; None: the whole frame), then rotate and mirror, then resize."""

    crop: tuple[int, int, int, int] | None = None
    rotate: int = 0  # one of ROTATIONS
    mirror: bool = False  # flip left-right, after the rotation

    def __post_init__(self) -> None:
        if self.crop is not None:
            object.__setattr__(self, "crop", tuple(self.crop))  # YAML gives a list
            if len(self.crop) != 4 or any(isinstance(v, bool) or not isinstance(v, int) for v in self.crop):
                raise ValueError(f"crop must be 4 whole pixel counts (x, y, width, height), got {self.crop}")
            x, y, width, height = self.crop
            if x < 0 or y < 0 or width <= 0 or height <= 0:
                raise ValueError(f"crop must start at x, y >= 0 and have a width and height > 0, got {self.crop}")
        if self.rotate not in ROTATIONS:
            raise ValueError(f"rotate must be one of {ROTATIONS} degrees, got {self.rotate!r}")

    def apply(self, image: np.ndarray, size: int, bgr: bool = False) -> np.ndarray:
        """The (size, size, 3) uint8 RGB input of an (H, W, 3 or 4) uint8 frame (BGR if ``bgr``; alpha dropped and
        channels swapped after the resize, where it is cheap); ValueError with the reason where the crop does not
        fit the frame, or the region is not square (a policy's input is)."""
        height, width = image.shape[:2]
        region = image
        if self.crop is not None:
            x, y, w, h = self.crop
            if x + w > width or y + h > height:
                raise ValueError(f"crop {list(self.crop)} does not fit a {height}x{width} image")
            region = image[y:y + h, x:x + w]
        if region.shape[0] != region.shape[1]:
            what = "the image" if self.crop is None else "the crop"
            raise ValueError(f"{what} is {region.shape[0]}x{region.shape[1]}, not square: configure a square crop "
                             f"of the camera's frame for the policy's {size}x{size} input")
        if self.rotate:  # OpenCV reads the crop in place (rows of whole pixels): no copy of a large frame
            region = cv2.rotate(region, _ROTATE[self.rotate])
        if self.mirror:
            region = cv2.flip(region, 1)
        resized = area_resize(region, size)
        return np.ascontiguousarray(resized[:, :, 2::-1] if bgr else resized[:, :, :3])


def area_resize(square: np.ndarray, size: int) -> np.ndarray:
    """A square image resized to ``size`` by area: a whole-factor block average first, then area on the rest."""
    side = square.shape[0]
    if side == size:
        return square
    factors = [f for f in range(2, side // size + 1) if side % f == 0]  # the fast path needs a whole factor
    if factors:
        side //= factors[-1]
        square = cv2.resize(square, (side, side), interpolation=cv2.INTER_AREA)
    interpolation = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR  # upscaling: no area to take
    return cv2.resize(square, (size, size), interpolation=interpolation)
