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


# The env config's field (and ``robostral collect``'s) that gives each camera's source, by observation key.
SOURCE_FIELDS = {"image": "camera_source", "wrist_image": "wrist_camera_source"}


@dataclass(frozen=True, kw_only=True)
class CameraSource(CameraInput):
    """A camera's frame as it is delivered (``width`` x ``height`` pixels), and the ``CameraInput`` of it.

    What the simulator renders for a policy that will read a real camera, and what a card records per camera:
    a frame of the real camera's size, then the same crop, turn and mirror as the cell's ``camera_*``
    parameters. The mount's field of view is the vertical one, so a wider frame sees more to the sides and its
    middle square shows what a square frame of the same height does. Checked on creation: the crop (or, without
    one, the frame) must fit the frame and be square.
    """

    width: int  # pixels
    height: int  # pixels

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("width", "height"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a whole number of pixels > 0, got {value!r}")
        frame = f"{self.width}x{self.height}"
        if self.crop is None:
            if self.width != self.height:
                raise ValueError(f"the {frame} frame (width x height) is not square: give a square crop of it, "
                                 f"e.g. {list(self.middle_square)}, its middle")
            return
        x, y, width, height = self.crop
        if x + width > self.width or y + height > self.height:
            raise ValueError(f"crop {list(self.crop)} (x, y, width, height) does not fit the {frame} frame "
                             "(width x height)")
        if width != height:
            raise ValueError(f"crop {list(self.crop)} is {width} wide and {height} high, not square: "
                             "a policy's input is square")

    @classmethod
    def direct(cls, size: int) -> CameraSource:
        """What stands for no source: a ``size`` square frame, used as it is (what old datasets and cards mean)."""
        return cls(width=size, height=size)

    @property
    def middle_square(self) -> tuple[int, int, int, int]:
        """The crop (x, y, width, height) of the largest square in the middle of the frame."""
        side = min(self.width, self.height)
        return (self.width - side) // 2, (self.height - side) // 2, side, side

    def as_dict(self) -> dict:
        """Width and height, then the ``CameraInput``'s fields; the crop a list, as YAML and JSON hold it."""
        return {"width": self.width, "height": self.height, "crop": None if self.crop is None else list(self.crop),
                "rotate": self.rotate, "mirror": self.mirror}

    def describe(self) -> str:
        """In words, for people: ``640x480 frame, crop [80, 0, 480, 480], turned 90 deg clockwise, mirrored``."""
        words = [f"{self.width}x{self.height} frame"]
        if self.crop is not None:
            words.append(f"crop {list(self.crop)}")
        if self.rotate:
            words.append(f"turned {self.rotate} deg clockwise")
        if self.mirror:
            words.append("mirrored")
        return ", ".join(words)
