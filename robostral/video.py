"""Write rollouts as MP4 (H.264 through the ffmpeg that ships with imageio-ffmpeg) or GIF."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import imageio.v2 as iio2
import imageio.v3 as iio
import numpy as np
from PIL import Image, ImageDraw


def write_video(path: str | os.PathLike, frames: Sequence[np.ndarray], fps: int = 20) -> Path:
    """Write RGB uint8 frames to ``path``; the suffix (.mp4 or .gif) picks the format."""
    path = video_path(path)
    if not frames:
        raise ValueError(f"no frames to write to {path}")
    suffix = path.suffix.lower()
    path.parent.mkdir(parents=True, exist_ok=True)
    stack = np.stack(frames)
    if suffix == ".mp4":
        iio.imwrite(path, stack, plugin="FFMPEG", fps=fps, codec="libx264", macro_block_size=1)
    else:
        iio.imwrite(path, stack, duration=1000 / fps, loop=0)
    return path


class VideoStream:
    """An MP4 written frame by frame, for recordings too long to hold in memory (the sim driver's)."""

    def __init__(self, path: str | os.PathLike, fps: int = 20) -> None:
        self.path = video_path(path)
        if self.path.suffix.lower() != ".mp4":
            raise ValueError(f"a streamed video must be .mp4, got {self.path.name!r}")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.writer = iio2.get_writer(self.path, fps=fps, codec="libx264", macro_block_size=1)
        self.frames = 0

    def add(self, frame: np.ndarray) -> None:
        self.writer.append_data(frame)
        self.frames += 1

    def close(self) -> Path:
        self.writer.close()
        return self.path


def video_path(path: str | os.PathLike) -> Path:
    """``path`` as a Path if it names a video format we write, else a ValueError (checked before any work)."""
    path = Path(path)
    if path.suffix.lower() not in (".mp4", ".gif"):
        raise ValueError(f"video path must end in .mp4 or .gif, got {path.name!r}")
    return path


def label(frame: np.ndarray, text: str) -> np.ndarray:
    """A copy of ``frame`` with ``text`` in a dark band along its top edge."""
    image = Image.fromarray(frame)
    draw = ImageDraw.Draw(image)
    draw.rectangle([0, 0, image.width, 13], fill=(20, 20, 20))
    draw.text((3, 1), text, fill=(240, 240, 240))
    return np.asarray(image)


def mosaic(clips: Sequence[Sequence[np.ndarray]], columns: int) -> list[np.ndarray]:
    """Tile equally sized clips into one clip; shorter clips hold their last frame."""
    length = max(len(clip) for clip in clips)
    blank = np.zeros_like(clips[0][0])
    padded = [list(clip) + [clip[-1]] * (length - len(clip)) for clip in clips]
    padded += [[blank] * length] * (-len(padded) % columns)
    frames = []
    for t in range(length):
        rows = [np.concatenate([c[t] for c in padded[r : r + columns]], axis=1) for r in range(0, len(padded), columns)]
        frames.append(np.concatenate(rows, axis=0))
    return frames
