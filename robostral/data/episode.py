"""One episode ready to be written: frames with PNG-encoded images, and where it came from.

Encoding (PNG and image statistics, the costly part) happens where the episode was
recorded, so collection workers do it in parallel and the writer only appends.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image

from robostral.data.stats import image_stats


@dataclass(frozen=True)
class Episode:
    """``length`` frames; frame t is observation t and the action chosen from it."""

    sim_task: str  # simulator task name, e.g. "pick_place"
    seed: int  # the env seed that reproduces this episode
    robot: str
    instruction: str  # the LeRobot "task" of every frame
    success: bool
    png: dict[str, list[bytes]]  # image feature key -> one PNG per frame
    image_stats: dict[str, dict[str, np.ndarray]]  # image feature key -> per-channel stats in [0, 1]
    image_shape: tuple[int, int, int]  # H, W, 3 of every image
    state: np.ndarray  # (length, D) float32: arm joint pos [rad], arm joint vel [rad/s], gripper pos
    action: np.ndarray  # (length, A) float32: joint targets, joint units
    randomization: dict  # the randomized values of this episode's scene

    @property
    def length(self) -> int:
        return len(self.action)

    @property
    def nbytes(self) -> int:
        """Bytes this episode adds to a data file, about (PNG bytes plus numbers)."""
        png = sum(len(b) for frames in self.png.values() for b in frames)
        return png + self.state.nbytes + self.action.nbytes + 45 * self.length

    @classmethod
    def encode(
        cls,
        *,
        sim_task: str,
        seed: int,
        robot: str,
        instruction: str,
        success: bool,
        images: dict[str, np.ndarray],
        state: np.ndarray,
        action: np.ndarray,
        randomization: dict | None = None,
    ) -> Episode:
        """Validate raw frames and encode ``images`` (key -> (T, H, W, 3) uint8) as PNG."""
        state = np.ascontiguousarray(state, dtype=np.float32)
        action = np.ascontiguousarray(action, dtype=np.float32)
        length = len(action)
        if length == 0:
            raise ValueError(f"episode {sim_task}/{seed} has no frames")
        if state.ndim != 2 or action.ndim != 2 or len(state) != length:
            raise ValueError(
                f"episode {sim_task}/{seed}: state and action must be (T, D) with one row per frame, "
                f"got {state.shape} and {action.shape}"
            )
        for name, values in (("state", state), ("action", action)):
            if not np.isfinite(values).all():
                raise ValueError(f"episode {sim_task}/{seed}: {name} has NaN or infinite values")
        if not images:
            raise ValueError(f"episode {sim_task}/{seed} has no images")
        shapes = {key: np.shape(frames) for key, frames in images.items()}
        shape = next(iter(shapes.values()))
        for key, frames in images.items():
            frames = np.asarray(frames)
            if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
                raise ValueError(f"episode {sim_task}/{seed}: {key} must be (T, H, W, 3) uint8, got {frames.dtype}")
            if frames.shape != shape or len(frames) != length:
                raise ValueError(f"episode {sim_task}/{seed}: image shapes {shapes} for {length} frames")
        return cls(
            sim_task=sim_task,
            seed=int(seed),
            robot=robot,
            instruction=instruction,
            success=bool(success),
            png={key: [encode_png(frame) for frame in np.asarray(frames)] for key, frames in images.items()},
            image_stats={key: image_stats(np.asarray(frames)) for key, frames in images.items()},
            image_shape=tuple(shape[1:]),
            state=state,
            action=action,
            randomization=dict(randomization or {}),
        )


def encode_png(image: np.ndarray) -> bytes:
    """One H x W x 3 uint8 image as PNG bytes (lossless)."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def decode_png(data: bytes) -> np.ndarray:
    """PNG bytes back to an H x W x 3 uint8 array."""
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"))
