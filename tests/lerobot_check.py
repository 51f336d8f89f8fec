"""LeRobot 0.4.4's LeRobotDataset reads a dataset `robostral collect` wrote: every value, bit for bit.

Run by the LeRobot venv's python (.venv-lerobot, `make lerobot-venv`), never by pytest nor by .venv:
tests/test_lerobot_compat.py collects the dataset, writes what Robostral's own reader returns for it, and runs

    .venv-lerobot/bin/python tests/lerobot_check.py DATASET OURS.npz OURS.json

OURS.npz holds every column as ``Dataset.load_arrays()`` returns it (images decoded to uint8, H x W x 3);
OURS.json holds the tasks (by task_index), fps and each episode's [from, to) frame range. Compared:

- metadata: frame, episode and task counts, fps, camera keys, the tasks table (text -> task_index);
- every frame of ``LeRobotDataset(root=DATASET)[i]``: each column Robostral reads (images, state, action,
  timestamp, the indices, next.done) and nothing else but ``task``, bit for bit: images as LeRobot gives
  them, float32 C x H x W in [0, 1], are exactly Robostral's uint8 / 255 in float32 (one uint8 per value, so
  the decoded pixels are the same); the rest has Robostral's dtype and bytes. ``task`` is the frame's
  task_index's text;
- ``delta_timestamps``: an action chunk of CHUNK steps from each frame, and the state one step back, are the
  dataset's own consecutive rows of that episode, clamped at its ends and marked in ``*_is_pad`` there.

Prints one JSON line of what it compared, last; exits non-zero (a traceback) on any difference.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

CHUNK = 8  # action steps from each frame (a policy's chunk); the last CHUNK - 1 of each episode run past its end
IMAGE_SCALE = np.float32(255)


def same_bits(theirs: np.ndarray, ours: np.ndarray) -> bool:
    """Equal dtype, shape and bytes (so -0.0 differs from 0.0, and a NaN matches only its own bits)."""
    return (theirs.dtype == ours.dtype and theirs.shape == ours.shape
            and np.ascontiguousarray(theirs).tobytes() == np.ascontiguousarray(ours).tobytes())


def main(dataset: str, arrays_path: str, meta_path: str) -> None:
    import lerobot
    import torch
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    ours = dict(np.load(arrays_path))
    meta = json.loads(Path(meta_path).read_text())
    tasks, fps, episodes = meta["tasks"], meta["fps"], meta["episodes"]
    num_frames = len(ours["index"])
    image_keys = sorted(key for key, values in ours.items() if values.dtype == np.uint8)

    theirs = LeRobotDataset("local/robostral", root=dataset)
    assert (len(theirs), theirs.num_frames, theirs.num_episodes, theirs.fps) == (
        num_frames, num_frames, len(episodes), fps), (len(theirs), theirs.num_episodes, theirs.fps)
    assert sorted(theirs.meta.camera_keys) == image_keys, theirs.meta.camera_keys
    assert theirs.meta.video_keys == [], theirs.meta.video_keys
    table = theirs.meta.tasks  # pandas: the task text as index, one task_index column
    assert list(table.index) == tasks and table["task_index"].tolist() == list(range(len(tasks))), table

    for i in range(num_frames):
        item = theirs[i]
        assert set(item) == set(ours) | {"task"}, f"frame {i}: LeRobot's keys {sorted(item)}, ours {sorted(ours)}"
        for key, values in ours.items():
            value, expected = item[key].numpy(), np.asarray(values[i])
            if key in image_keys:  # H x W x 3 uint8 -> 3 x H x W float32 in [0, 1], as torchvision's ToTensor
                expected = expected.transpose(2, 0, 1).astype(np.float32) / IMAGE_SCALE
            assert same_bits(value, expected), f"frame {i} {key}: LeRobot {value!r}, ours {expected!r}"
        assert item["task"] == tasks[ours["task_index"][i]], (i, item["task"])

    # One chunk of CHUNK actions from each frame, and the state one step back: LeRobot's windows over an episode.
    deltas = {"action": [k / fps for k in range(CHUNK)], "observation.state": [-1 / fps, 0.0]}
    windowed = LeRobotDataset("local/robostral", root=dataset, delta_timestamps=deltas)
    padded = 0
    for start, end in episodes:
        for i in range(start, end):
            item = windowed[i]
            for key, offsets in (("action", range(CHUNK)), ("observation.state", (-1, 0))):
                rows = [min(max(i + k, start), end - 1) for k in offsets]
                pad = np.array([not start <= i + k < end for k in offsets])
                assert same_bits(item[key].numpy(), ours[key][rows]), f"frame {i}: {key} window {item[key]}"
                assert same_bits(item[f"{key}_is_pad"].numpy(), pad), f"frame {i}: {key}_is_pad {item[f'{key}_is_pad']}"
                padded += int(pad.sum())
    assert padded > 0, "no window crossed an episode's end"

    print(json.dumps({
        "lerobot": lerobot.__version__, "torch": torch.__version__, "frames": num_frames,
        "episodes": len(episodes), "tasks": tasks, "keys": sorted(ours), "chunk": CHUNK, "padded": padded,
    }))


if __name__ == "__main__":
    main(*sys.argv[1:])
