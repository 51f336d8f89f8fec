"""Append episodes to a LeRobotDataset v3.0 directory; every flush leaves a valid dataset.

Episodes are buffered and written in batches. A flush writes the batch as new data
file(s), never touching existing ones, then replaces tasks, episodes, stats and info
together through the metadata journal (``robostral.data.files``). A crash at any moment
leaves the dataset as of the last committed flush; the only other trace it can leave is
a data file that no episode refers to yet, which readers ignore and the next writer deletes.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from robostral.data.episode import Episode
from robostral.data.files import (
    LOCK_NAME,
    atomic_write,
    commit,
    finish_commit,
    lock_exclusive,
    staged_name,
    write_synced,
)
from robostral.data.layout import (
    CHUNKS_SIZE,
    CODEBASE_VERSION,
    DATA_FILES_SIZE_IN_MB,
    DATA_PATH,
    EPISODES_PATH,
    IMAGE_KEYS,
    IMAGE_TYPE,
    INFO_PATH,
    STATS_PATH,
    TASKS_PATH,
    VIDEO_FILES_SIZE_IN_MB,
    arrow_schema,
    data_path,
    episodes_schema,
    image_keys,
    make_features,
    tasks_schema,
)
from robostral.data.reader import Dataset, DatasetError
from robostral.data.stats import aggregate, vector_stats

META_FILES = [TASKS_PATH, EPISODES_PATH, STATS_PATH, INFO_PATH]  # info.json last: it holds the counts

@dataclass(frozen=True)
class DatasetSpec:
    """What all episodes of one dataset share; a dataset never mixes two specs."""

    robot: str
    joint_names: tuple[str, ...]  # arm joints then the gripper's driving joint (action order)
    fps: int  # frames per second: the control rate [Hz]
    image_size: int  # pixels, square images
    wrist: bool  # a wrist camera image besides the front one

    @property
    def features(self) -> dict[str, dict]:
        return make_features(list(self.joint_names), self.image_size, self.wrist)

    @classmethod
    def of(cls, dataset: Dataset) -> DatasetSpec:
        """The spec of an existing dataset: what a writer needs to append to it, or to write one of its kind."""
        size = int(dataset.features[IMAGE_KEYS["image"]]["shape"][0])
        return cls(dataset.robot, tuple(dataset.joint_names), dataset.fps, size,
                   IMAGE_KEYS["wrist_image"] in dataset.features)


class DatasetWriter:
    """Creates a dataset at ``root``, or opens the one there to append to it.

    ``provenance`` is stored under info.json's ``robostral`` key when the dataset is
    created; when it is opened, ``self.provenance`` holds what was stored, and changes the
    caller makes to it are written by the next flush. A second writer on the same
    directory is refused while the first is open.
    """

    def __init__(self, root: str | os.PathLike, spec: DatasetSpec, provenance: dict | None = None) -> None:
        self.root = Path(root)
        self.spec = spec
        self.features = spec.features
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            self._lock = lock_exclusive(self.root)
        except BlockingIOError:
            raise DatasetError(f"{self.root}: another process is writing this dataset") from None
        self._pending: list[Episode] = []
        self.removed_strays: list[str] = []  # files an interrupted writer left, deleted on open
        try:
            finish_commit(self.root)  # a flush a crash interrupted after its commit
            if (self.root / INFO_PATH).exists():
                self._open()
            else:
                self._create(provenance or {})
        except BaseException:
            self._lock.close()
            raise
        self._keys = set(zip(self._episodes.column("sim_task").to_pylist(), self._episodes.column("seed").to_pylist()))

    # -- public API -----------------------------------------------------------------------
    @property
    def provenance(self) -> dict:
        """info.json's ``robostral`` object: where the episodes came from."""
        return self.info.setdefault("robostral", {})

    @property
    def keys(self) -> set[tuple[str, int]]:
        """(sim_task, seed) of every episode written so far, flushed or pending."""
        return set(self._keys)

    @property
    def pending(self) -> int:
        """Episodes added but not flushed yet."""
        return len(self._pending)

    def add(self, episode: Episode) -> None:
        """Buffer one episode; it is on disk after the next ``flush``."""
        expected = set(image_keys(self.features))
        size = self.spec.image_size
        problems = []
        if episode.robot != self.spec.robot:
            problems.append(f"robot {episode.robot!r}, dataset is {self.spec.robot!r}")
        if set(episode.png) != expected:
            problems.append(f"images {sorted(episode.png)}, dataset has {sorted(expected)}")
        if episode.image_shape != (size, size, 3):
            problems.append(f"images {episode.image_shape}, dataset has {(size, size, 3)}")
        for key, values in (("observation.state", episode.state), ("action", episode.action)):
            if values.shape[1:] != tuple(self.features[key]["shape"]):
                problems.append(f"{key} of shape {values.shape[1:]}, dataset has {self.features[key]['shape']}")
        if (episode.sim_task, episode.seed) in self._keys:
            problems.append("already in the dataset")
        if problems:
            raise ValueError(f"episode {episode.sim_task}/{episode.seed}: " + "; ".join(problems))
        self._pending.append(episode)
        self._keys.add((episode.sim_task, episode.seed))

    def flush(self) -> None:
        """Write the buffered episodes and the metadata; the dataset on disk is then complete."""
        info = json.loads(json.dumps(self.info))
        tasks = list(self.tasks)
        rows, stats_parts, written = [], [], []
        first_file = self._next_file
        try:
            for file_number, group in enumerate(_split_by_size(self._pending, DATA_FILES_SIZE_IN_MB * 1024**2),
                                                start=first_file):
                arrays = []
                for episode in group:
                    if episode.instruction not in tasks:
                        tasks.append(episode.instruction)
                    columns = self._episode_columns(episode, info["total_episodes"], info["total_frames"], tasks)
                    arrays.append(columns)
                    stats = {key: vector_stats(values) for key, values in columns.items() if key not in episode.png}
                    stats.update(episode.image_stats)
                    stats_parts.append(stats)
                    rows.append(self._episode_row(episode, info, file_number, stats))
                    info["total_episodes"] += 1
                    info["total_frames"] += episode.length
                written.append(self.root / data_path(file_number))
                atomic_write(written[-1], _parquet(self._data_table(arrays)))
            info["total_tasks"] = len(tasks)
            info["splits"] = {"train": f"0:{info['total_episodes']}"}
            episodes = pa.concat_tables([self._episodes, pa.Table.from_pylist(rows, schema=self._episodes.schema)])
            stats = self.stats
            if stats_parts:
                stats = {key: aggregate(([stats[key]] if stats else []) + [s[key] for s in stats_parts])
                         for key in self.features}
            self._stage_meta(info, tasks, episodes, stats)
        except BaseException:
            for path in written:  # never referenced by committed metadata: take them back
                path.unlink(missing_ok=True)
            raise
        commit(self.root, META_FILES)
        self.info, self.tasks, self._episodes, self.stats = info, tasks, episodes, stats
        self._next_file = first_file + len(written)
        self._pending = []

    def close(self) -> None:
        """Flush what is pending (if anything) and release the directory."""
        try:
            if self._pending:
                self.flush()
        finally:
            self._lock.close()

    def __enter__(self) -> DatasetWriter:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # -- opening ----------------------------------------------------------------------------
    def _create(self, provenance: dict) -> None:
        leftovers = sorted(p.name for p in self.root.iterdir() if p.name not in (LOCK_NAME, "meta"))
        if leftovers:
            raise DatasetError(
                f"{self.root}: not a dataset (no {INFO_PATH}) and not empty ({', '.join(leftovers[:5])}); "
                "refusing to write into it"
            )
        self.info = {
            "codebase_version": CODEBASE_VERSION,
            "robot_type": self.spec.robot,
            "total_episodes": 0,
            "total_frames": 0,
            "total_tasks": 0,
            "chunks_size": CHUNKS_SIZE,
            "data_files_size_in_mb": DATA_FILES_SIZE_IN_MB,
            "video_files_size_in_mb": VIDEO_FILES_SIZE_IN_MB,
            "fps": self.spec.fps,
            "splits": {},
            "data_path": DATA_PATH,
            "video_path": None,
            "features": self.features,
            "robostral": dict(provenance),
        }
        self.tasks: list[str] = []
        self.stats: dict[str, dict[str, np.ndarray]] = {}
        self._episodes = episodes_schema(self.features).empty_table()
        self._next_file = 0
        self._stage_meta(self.info, self.tasks, self._episodes, self.stats)
        commit(self.root, META_FILES)

    def _open(self) -> None:
        dataset = Dataset(self.root)  # not load_dataset: this writer holds the lock it checks
        spec = self.spec
        size = dataset.features["observation.images.front"]["shape"][0]
        wrist = "observation.images.wrist" in dataset.features
        for name, have, want in [
            ("robot", dataset.robot, spec.robot),
            ("image size", size, spec.image_size),
            ("wrist camera", wrist, spec.wrist),
            ("fps", dataset.fps, spec.fps),
            ("joint names", dataset.joint_names, list(spec.joint_names)),
        ]:
            if have != want:
                raise DatasetError(
                    f"{self.root}: the dataset's {name} is {have!r}, these episodes' is {want!r}; "
                    "a dataset never mixes them: write to another directory"
                )
        if dataset.features != self.features:
            raise DatasetError(f"{self.root}: the dataset's features differ from these episodes' features")
        self.info, self.tasks, self.stats = dataset.info, list(dataset.tasks), dataset.stats
        self._episodes = pq.read_table(self.root / EPISODES_PATH, schema=episodes_schema(self.features))
        referenced = {dataset.data_file(e) for e in dataset.episodes}
        numbers = [c * CHUNKS_SIZE + f for c, f in {(e["data/chunk_index"], e["data/file_index"])
                                                      for e in dataset.episodes}]
        self._next_file = max(numbers, default=-1) + 1
        self.removed_strays = _remove_strays(self.root, referenced)

    # -- building tables ----------------------------------------------------------------------
    def _episode_columns(self, episode: Episode, first_episode: int, first_frame: int, tasks: list[str]) -> dict:
        """The columns of one episode's frames, PNG images as lists of bytes."""
        frame_index = np.arange(episode.length, dtype=np.int64)
        columns: dict = dict(episode.png)
        columns["observation.state"] = episode.state
        columns["action"] = episode.action
        columns["timestamp"] = (frame_index / self.spec.fps).astype(np.float32)
        columns["frame_index"] = frame_index
        columns["episode_index"] = np.full(episode.length, first_episode, dtype=np.int64)
        columns["index"] = first_frame + frame_index
        columns["task_index"] = np.full(episode.length, tasks.index(episode.instruction), dtype=np.int64)
        columns["next.done"] = frame_index == episode.length - 1
        return columns

    def _data_table(self, episodes: list[dict]) -> pa.Table:
        schema = arrow_schema(self.features)
        arrays = []
        for field in schema:
            if field.type == IMAGE_TYPE:
                data = pa.array([b for columns in episodes for b in columns[field.name]], pa.binary())
                paths = pa.nulls(len(data), pa.string())
                arrays.append(pa.StructArray.from_arrays([data, paths], fields=list(IMAGE_TYPE)))
                continue
            values = np.concatenate([columns[field.name] for columns in episodes])
            if pa.types.is_fixed_size_list(field.type):
                arrays.append(pa.FixedSizeListArray.from_arrays(pa.array(values.ravel()), field.type.list_size))
            else:
                arrays.append(pa.array(values, field.type))
        return pa.Table.from_arrays(arrays, schema=schema)

    def _episode_row(self, episode: Episode, info: dict, file_number: int, stats: dict) -> dict:
        chunk_index, file_index = divmod(file_number, CHUNKS_SIZE)
        row = {
            "episode_index": info["total_episodes"],
            "tasks": [episode.instruction],
            "length": episode.length,
            "data/chunk_index": chunk_index,
            "data/file_index": file_index,
            "dataset_from_index": info["total_frames"],
            "dataset_to_index": info["total_frames"] + episode.length,
            "meta/episodes/chunk_index": 0,
            "meta/episodes/file_index": 0,
        }
        for key, feature_stats in stats.items():
            row.update({f"stats/{key}/{name}": value.tolist() for name, value in feature_stats.items()})
        row.update(
            seed=episode.seed,
            sim_task=episode.sim_task,
            robot=episode.robot,
            success=episode.success,
            randomization=json.dumps(episode.randomization, sort_keys=True),
        )
        return row

    def _stage_meta(self, info: dict, tasks: list[str], episodes: pa.Table, stats: dict) -> None:
        """Write the next version of every metadata file under its staged name."""
        task_table = pa.Table.from_arrays(
            [pa.array(range(len(tasks)), pa.int64()), pa.array(tasks, pa.string())], schema=tasks_schema()
        )
        serial = {key: {name: value.tolist() for name, value in s.items()} for key, s in stats.items()}
        contents = {
            TASKS_PATH: _parquet(task_table),
            EPISODES_PATH: _parquet(episodes),
            STATS_PATH: _json(serial),
            INFO_PATH: _json(info),
        }
        for relative in META_FILES:
            write_synced(self.root / staged_name(relative), contents[relative])


def _split_by_size(episodes: list[Episode], limit: int) -> list[list[Episode]]:
    """Consecutive groups of at most ``limit`` bytes each (an episode is never split)."""
    groups: list[list[Episode]] = []
    size = 0
    for episode in episodes:
        if not groups or size + episode.nbytes > limit:
            groups.append([])
            size = 0
        groups[-1].append(episode)
        size += episode.nbytes
    return groups


def _parquet(table: pa.Table):
    return lambda handle: pq.write_table(table, handle, compression="snappy", write_page_checksum=True)


def _json(value: dict):
    return lambda handle: handle.write(json.dumps(value, indent=4).encode())


def _remove_strays(root: Path, referenced: set[str]) -> list[str]:
    """Delete data files no episode refers to, and temporary or staged files (left by a killed writer)."""
    strays = [p for p in root.glob("data/*/*.parquet") if p.relative_to(root).as_posix() not in referenced]
    strays += [p for p in root.glob("**/.*.tmp") if p.is_file()]
    strays += [p for p in root.glob("meta/**/.*.staged") if p.is_file()]
    for path in strays:
        path.unlink()
    return sorted(p.relative_to(root).as_posix() for p in strays)
