"""A column of camera frames kept PNG-encoded in memory and decoded when indexed.

A 96x96 frame is 27 KB decoded and a small fraction of that as a PNG of a rendered
scene, so that a dataset of hundreds of thousands of frames, with a second camera or
beside a second process, still fits in memory; the price is a decode per frame drawn.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from robostral.data.episode import decode_png


class EncodedImages:
    """PNG frames in one buffer; ``images[rows]`` decodes those rows to (len(rows), H, W, 3) uint8."""

    def __init__(self, frames: Sequence[bytes], frame_shape: tuple[int, ...]) -> None:
        lengths = np.fromiter((len(f) for f in frames), dtype=np.int64, count=len(frames))
        self.offsets = np.concatenate([[0], np.cumsum(lengths)])
        self.buffer = np.frombuffer(b"".join(frames), dtype=np.uint8)
        self.frame_shape = tuple(frame_shape)

    @property
    def shape(self) -> tuple[int, ...]:
        """As the decoded array's: (frames, H, W, 3)."""
        return (len(self), *self.frame_shape)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, rows) -> np.ndarray:
        """One frame (H, W, 3) for an integer, a stack of frames for an array of them."""
        if np.ndim(rows) == 0:
            return self._decode(int(rows))
        rows = np.asarray(rows)
        out = np.empty((*rows.shape, *self.frame_shape), dtype=np.uint8)
        for position, row in np.ndenumerate(rows):
            out[position] = self._decode(int(row))
        return out

    def _decode(self, row: int) -> np.ndarray:
        if not -len(self) <= row < len(self):
            raise IndexError(f"frame {row} out of range for {len(self)} frames")
        row %= len(self)
        return decode_png(self.buffer[self.offsets[row] : self.offsets[row + 1]].tobytes())
