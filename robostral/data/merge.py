"""Episodes of several datasets in one: what fine-tuning trains on (new demonstrations beside the data a
policy was trained on), and what anyone mixing data sources can inspect and train from.

Every source must be the same kind of dataset: robot, joints, control rate, cameras, their image size
and the sources they were rendered from. Episodes are copied as they are stored (their PNG frames,
states, actions, instruction, seed and scene), so a merged episode trains exactly as it did in its
source. Two episodes with the same (sim task, seed) cannot share a dataset: a merge that would put
them together is refused, before anything is written.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from robostral.data.episode import Episode
from robostral.data.layout import ACTION, IMAGE_KEYS, STATE
from robostral.data.reader import Dataset, DatasetError
from robostral.data.stats import image_stats
from robostral.data.writer import DatasetSpec, DatasetWriter
from sim.camera_input import SOURCE_FIELDS

FLUSH_EVERY = 32  # episodes held in memory (their PNG frames) before they are written


@dataclass(frozen=True)
class MergeSource:
    """Episodes ``episodes`` (indices, in this order; None: all) of ``dataset``."""

    dataset: Dataset
    episodes: Sequence[int] | None = None

    def indices(self) -> list[int]:
        chosen = list(range(len(self.dataset.episodes)) if self.episodes is None else self.episodes)
        wrong = [i for i in chosen if not 0 <= i < len(self.dataset.episodes)]
        if wrong:
            raise DatasetError(f"{self.dataset.root}: no episode {wrong[0]}; it has {len(self.dataset.episodes)}")
        return chosen


def read_episode(dataset: Dataset, index: int, arrays: dict[str, np.ndarray] | None = None) -> Episode:
    """Episode ``index`` of ``dataset`` as the writer takes it, its PNG frames as stored.

    ``arrays``: the dataset's state and action columns, when the caller reads several episodes.
    """
    arrays = arrays or dataset.load_arrays([STATE, ACTION])
    row = dataset.episodes[index]
    frames = slice(row["dataset_from_index"], row["dataset_to_index"])
    png, stats = {}, {}
    for column in (IMAGE_KEYS[key] for key in dataset.camera_sources):
        cells = list(dataset.image_frames(column, index))
        png[column] = [cell for cell, _ in cells]
        stats[column] = image_stats(np.stack([image for _, image in cells]))
    shape = tuple(dataset.features[IMAGE_KEYS["image"]]["shape"])
    return Episode(sim_task=row["sim_task"], seed=int(row["seed"]), robot=row["robot"], instruction=row["tasks"][0],
                   success=bool(row["success"]), png=png, image_stats=stats, image_shape=shape,
                   state=arrays[STATE][frames], action=arrays[ACTION][frames],
                   randomization=dataset.episode_randomization(index))


def merge_datasets(out: Path, sources: Sequence[MergeSource], command: str) -> int:
    """Write the chosen episodes of ``sources``, in order, as a new dataset at ``out``; the episode count.

    DatasetError when ``out`` exists, when the sources differ in kind, or when two episodes share a key.
    """
    out = Path(out)
    if out.exists():
        raise DatasetError(f"{out} exists: a merge writes a new dataset (choose another --out, or remove it)")
    if not sources:
        raise DatasetError("nothing to merge: no source dataset")
    first = sources[0].dataset
    spec, cameras = DatasetSpec.of(first), first.camera_sources
    for source in sources[1:]:
        other = source.dataset
        if (DatasetSpec.of(other), other.camera_sources) != (spec, cameras):
            raise DatasetError(f"{other.root} is not the same kind of dataset as {first.root}: {DatasetSpec.of(other)} "
                               f"against {spec}, cameras {_describe(other)} against {_describe(first)}")
    chosen = [(source, source.indices()) for source in sources]
    keys: dict[tuple[str, int], Path] = {}
    for source, indices in chosen:
        for index in indices:
            row = source.dataset.episodes[index]
            key = (row["sim_task"], int(row["seed"]))
            if key in keys:
                raise DatasetError(f"{source.dataset.root} episode {index} ({key[0]} seed {key[1]}) is also in "
                                   f"{keys[key]}: a dataset holds each (task, seed) once")
            keys[key] = source.dataset.root
    provenance = {
        "env_config": {SOURCE_FIELDS[key]: value.as_dict() for key, value in cameras.items()},
        "merged_from": [{"dataset": str(s.dataset.root), "hash": s.dataset.hash(), "episodes": indices}
                        for s, indices in chosen],
        "commands": [command],
    }
    staging = out.with_name(f".{out.name}.merging")  # the dataset appears whole at ``out``, or not at all
    shutil.rmtree(staging, ignore_errors=True)
    try:
        with DatasetWriter(staging, spec, provenance) as writer:
            for source, indices in tqdm(chosen, desc="merge", unit="dataset", dynamic_ncols=True):
                arrays = source.dataset.load_arrays([STATE, ACTION])
                for index in indices:
                    writer.add(read_episode(source.dataset, index, arrays))
                    if writer.pending >= FLUSH_EVERY:
                        writer.flush()
        os.replace(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return sum(len(indices) for _, indices in chosen)


def _describe(dataset: Dataset) -> str:
    return ", ".join(f"{key} {source.describe()}" for key, source in dataset.camera_sources.items())
