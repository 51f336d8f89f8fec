"""Training samples from a dataset's arrays: one frame's inputs and the next K actions.

The arrays are in memory, but for camera frames that may be PNG decoded when indexed or mapped from a
frame cache (robostral/training/frame_cache.py).

A sample is frame t of an episode: its image, proprio state and instruction, and
the chunk of actions t .. t+K-1; a chunk that runs past the episode's end repeats
the last action (the expert holds still there). Episodes, not frames, are split
between training and validation so that validation frames are truly unseen.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from robostral.data import Dataset

IMAGE = "observation.images.front"
WRIST_IMAGE = "observation.images.wrist"
STATE = "observation.state"
ACTION = "action"


def image_columns(wrist_camera: bool) -> list[str]:
    """The dataset's image columns a network reads: the front camera's, and the wrist camera's if it takes one."""
    return [IMAGE, WRIST_IMAGE] if wrist_camera else [IMAGE]


def dataset_image_columns(dataset: Dataset, wrist_camera: bool) -> list[str]:
    """``image_columns``, checked against a dataset: a wrist network needs one recorded with the wrist camera."""
    columns = image_columns(wrist_camera)
    if WRIST_IMAGE in columns and WRIST_IMAGE not in dataset.features:
        raise ValueError(f"{dataset.root} has no wrist camera images, which a policy with wrist_camera takes "
                         "(record one with `robostral collect --wrist`)")
    return columns


@dataclass
class Batch:
    image: torch.Tensor  # (B, H, W, 3) uint8
    state: torch.Tensor  # (B, state_dim) float32
    task: torch.Tensor  # (B,) int64, index into the instruction embeddings
    actions: torch.Tensor  # (B, K, action_dim) float32
    wrist_image: torch.Tensor | None = None  # (B, H, W, 3) uint8, where the arrays hold the wrist camera


class ChunkSamples:
    """Frames of a set of episodes with their action chunks, sampled as batches."""

    def __init__(self, arrays: dict[str, np.ndarray], episodes: list[dict], chunk_size: int) -> None:
        self.arrays = arrays
        frames, chunks = [], []
        for episode in episodes:
            start, stop = int(episode["dataset_from_index"]), int(episode["dataset_to_index"])
            index = np.arange(start, stop)
            frames.append(index)
            chunks.append(np.minimum(index[:, None] + np.arange(chunk_size)[None, :], stop - 1))
        self.frames = np.concatenate(frames) if frames else np.zeros(0, dtype=np.int64)
        self.chunks = np.concatenate(chunks) if chunks else np.zeros((0, chunk_size), dtype=np.int64)

    def __len__(self) -> int:
        return len(self.frames)

    def batch(self, rows: np.ndarray) -> Batch:
        """The samples at positions ``rows`` (positions within this set, not dataset indices)."""
        frames = self.frames[rows]
        return Batch(
            image=torch.from_numpy(self.arrays[IMAGE][frames]),
            state=torch.from_numpy(self.arrays[STATE][frames]),
            task=torch.from_numpy(self.arrays["task_index"][frames].astype(np.int64)),
            actions=torch.from_numpy(self.arrays[ACTION][self.chunks[rows]]),
            wrist_image=torch.from_numpy(self.arrays[WRIST_IMAGE][frames]) if WRIST_IMAGE in self.arrays else None,
        )

    def random_batch(self, size: int, rng: np.random.Generator) -> Batch:
        return self.batch(rng.integers(0, len(self), size=size))

    def batches(self, size: int):
        """Every sample once, in order (for validation)."""
        for start in range(0, len(self), size):
            yield self.batch(np.arange(start, min(start + size, len(self))))


def split_episodes(episodes: list[dict], val_fraction: float, seed: int) -> tuple[list[dict], list[dict]]:
    """(train, validation) episodes, drawn reproducibly; at least one training episode."""
    order = np.random.default_rng(seed).permutation(len(episodes))
    n_val = min(int(round(len(episodes) * val_fraction)), len(episodes) - 1)
    val = sorted(order[:n_val].tolist())
    train = sorted(order[n_val:].tolist())
    return [episodes[i] for i in train], [episodes[i] for i in val]


def target_statistics(samples: ChunkSamples, joint_positions, mode: str) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std (K, A) of the chunk targets the network predicts (offsets in delta mode)."""
    actions = samples.arrays[ACTION][samples.chunks]  # (N, K, A)
    if mode == "delta":
        actions = actions - joint_positions(samples.arrays[STATE][samples.frames])[:, None, :]
    return actions.mean(axis=0), actions.std(axis=0)
