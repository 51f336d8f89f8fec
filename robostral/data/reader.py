"""Read and validate a LeRobotDataset v3.0 directory written by ``robostral collect``.

``load_dataset`` checks the layout, the schema and that every count agrees with the
data before returning; anything wrong raises ``DatasetError`` naming the file and the
problem. Frames are then loaded as numpy arrays, images decoded to uint8 (or kept as PNG
in memory, decoded when indexed: ``load_arrays(encoded_images=True)``).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from robostral.data.encoded_images import EncodedImages
from robostral.data.episode import decode_png
from robostral.data.files import current_path, is_being_written
from robostral.data.layout import (
    ACTION,
    CODEBASE_VERSION,
    EPISODES_PATH,
    IMAGE_KEYS,
    INFO_PATH,
    STATE,
    STATS_PATH,
    TASKS_PATH,
    arrow_type,
    image_keys,
)
from robostral.data.stats import STAT_NAMES
from robostral.digest import sha256_file
from sim.camera_input import SOURCE_FIELDS, CameraSource
from sim.config import from_dict

INFO_KEYS = (
    "codebase_version", "robot_type", "total_episodes", "total_frames", "total_tasks", "chunks_size",
    "data_files_size_in_mb", "video_files_size_in_mb", "fps", "splits", "data_path", "video_path", "features",
)
REQUIRED_FEATURES = (IMAGE_KEYS["image"], STATE, ACTION, "timestamp", "frame_index", "episode_index", "index",
                     "task_index", "next.done")
EPISODE_COLUMNS = ("episode_index", "tasks", "length", "data/chunk_index", "data/file_index",
                   "dataset_from_index", "dataset_to_index", "seed", "sim_task", "robot", "success")


class DatasetError(ValueError):
    """A dataset that is missing, malformed or inconsistent; the message names the file."""


def load_dataset(root: str | os.PathLike) -> Dataset:
    """Open and validate the dataset at ``root``; refuses one a live ``robostral collect`` is writing."""
    root = Path(root)
    if is_being_written(root):
        raise DatasetError(f"{root}: a collection is writing this dataset; read it once that has finished")
    return Dataset(root)


class Dataset:
    """A validated dataset: metadata in attributes, frames through ``load_arrays``."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise DatasetError(f"{self.root}: no such dataset directory")
        self._files = [INFO_PATH, STATS_PATH, TASKS_PATH, EPISODES_PATH]
        self.info: dict = self._read_json(INFO_PATH)
        self._check_info()
        self.features: dict[str, dict] = self.info["features"]
        self.tasks: list[str] = self._read_tasks()
        self.episodes: list[dict] = self._read_episodes()
        self.stats: dict[str, dict[str, np.ndarray]] = self._read_stats()
        # Each camera's frame size and crop by observation key (image, wrist_image): what the sim rendered.
        self.camera_sources: dict[str, CameraSource] = self._read_camera_sources()
        self._files += sorted({self.data_file(e) for e in self.episodes})
        self._columns = self._read_data_columns()
        self._hash: str | None = None

    # -- the API training uses --------------------------------------------------------------
    @property
    def num_frames(self) -> int:
        return int(self.info["total_frames"])

    @property
    def fps(self) -> int:
        return int(self.info["fps"])

    @property
    def robot(self) -> str:
        return self.info["robot_type"]

    @property
    def joint_names(self) -> list[str]:
        """Arm joints then the gripper's driving joint: the order of the action vector."""
        return list(self.features[ACTION]["names"])

    def data_file(self, episode: dict) -> str:
        """The data file (relative path) that holds ``episode``'s frames."""
        return self.info["data_path"].format(
            chunk_index=episode["data/chunk_index"], file_index=episode["data/file_index"]
        )

    def load_arrays(
        self, columns: list[str] | None = None, encoded_images: bool = False
    ) -> dict[str, np.ndarray | EncodedImages]:
        """Every frame in index order: images (N, H, W, 3) uint8, vectors (N, D) float32, scalars (N,).

        With ``encoded_images`` the images stay PNG in memory, as ``EncodedImages`` that decode when
        indexed (every one is still decoded and checked here once, so a malformed frame fails now).
        """
        columns = list(self.features) if columns is None else list(columns)
        unknown = [c for c in columns if c not in self.features]
        if unknown:
            raise DatasetError(f"{self.root}: no column(s) {unknown}; columns: {list(self.features)}")
        arrays = {c: self._columns[c].copy() for c in columns if c in self._columns}  # callers may write to them
        for key in [c for c in columns if c not in self._columns]:
            arrays[key] = self._read_images(key, encoded_images)
        return {c: arrays[c] for c in columns}

    def episode_randomization(self, index: int) -> dict:
        """The randomized values of episode ``index``'s scene, as the writer recorded them ({} where none were)."""
        if not 0 <= index < len(self.episodes):
            raise DatasetError(f"{self.root}: no episode {index}; it has {len(self.episodes)}")
        table = self._read_table(EPISODES_PATH)
        if "randomization" not in table.column_names:
            return {}
        text = table.column("randomization")[index].as_py()
        return json.loads(text) if text else {}

    def hash(self) -> str:
        """sha256 over the metadata and data files (paths and contents): the training data's identity."""
        if self._hash is None:
            digest = hashlib.sha256()
            for relative in self._files:
                digest.update(relative.encode() + b"\0" + bytes.fromhex(sha256_file(current_path(self.root, relative))))
            self._hash = digest.hexdigest()
        return self._hash

    # -- reading and checking --------------------------------------------------------------------
    def _path(self, relative: str) -> Path:
        path = current_path(self.root, relative)
        if not path.is_file():
            raise DatasetError(f"{self.root / relative}: missing (not a complete LeRobot v3.0 dataset)")
        return path

    def _read_json(self, relative: str) -> dict:
        try:
            value = json.loads(self._path(relative).read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise DatasetError(f"{self.root / relative}: not valid JSON ({error})") from None
        if not isinstance(value, dict):
            raise DatasetError(f"{self.root / relative}: expected a JSON object")
        return value

    def _read_table(self, relative: str, columns: list[str] | None = None) -> pa.Table:
        path = self._path(relative)
        try:
            return pq.read_table(path, columns=columns, page_checksum_verification=True)
        except (pa.ArrowException, OSError) as error:
            raise self._unreadable(relative, error) from None

    def _read_schema(self, relative: str) -> pa.Schema:
        path = self._path(relative)
        try:
            return pq.read_schema(path)
        except (pa.ArrowException, OSError) as error:
            raise self._unreadable(relative, error) from None

    def _unreadable(self, relative: str, error: Exception) -> DatasetError:
        return self._fail(relative, f"unreadable parquet, truncated or corrupt ({error})")

    def _fail(self, relative: str, problem: str) -> DatasetError:
        return DatasetError(f"{self.root / relative}: {problem}")

    def _check_info(self) -> None:
        info = self.info
        missing = [k for k in INFO_KEYS if k not in info]
        if missing:
            raise self._fail(INFO_PATH, f"missing key(s) {', '.join(missing)}")
        if info["codebase_version"] != CODEBASE_VERSION:
            raise self._fail(
                INFO_PATH, f"codebase_version is {info['codebase_version']!r}; this reader needs {CODEBASE_VERSION!r}"
            )
        for key in ("total_episodes", "total_frames", "total_tasks", "fps"):
            if not isinstance(info[key], int) or isinstance(info[key], bool) or info[key] < 0:
                raise self._fail(INFO_PATH, f"{key} must be an integer >= 0, got {info[key]!r}")
        features = info["features"]
        absent = [k for k in REQUIRED_FEATURES if k not in features]
        if absent:
            raise self._fail(INFO_PATH, f"features lack {', '.join(absent)}")
        for key, feature in features.items():
            try:
                arrow_type(feature)
                shape = [int(n) for n in feature["shape"]]
            except (KeyError, TypeError, ValueError):
                raise self._fail(INFO_PATH, f"feature {key} has no valid dtype and shape: {feature}") from None
            if feature["dtype"] == "image" and (len(shape) != 3 or shape[2] != 3):
                raise self._fail(INFO_PATH, f"image feature {key} must have shape [H, W, 3], got {shape}")
        for key in (STATE, ACTION):
            if len(features[key].get("names") or []) != features[key]["shape"][0]:
                raise self._fail(INFO_PATH, f"feature {key} needs one name per dimension")

    def _read_stats(self) -> dict[str, dict[str, np.ndarray]]:
        raw = self._read_json(STATS_PATH)
        if self.info["total_frames"] == 0:
            return {}
        stats = {}
        for key, feature in self.features.items():
            if not isinstance(raw.get(key), dict) or any(name not in raw[key] for name in STAT_NAMES):
                raise self._fail(STATS_PATH, f"no {'/'.join(STAT_NAMES)} for feature {key}")
            stats[key] = {name: np.asarray(raw[key][name], dtype=np.float64) for name in STAT_NAMES}
            shape = (3, 1, 1) if feature["dtype"] == "image" else tuple(feature["shape"])
            for name in STAT_NAMES[:-1]:
                if stats[key][name].shape != shape:
                    raise self._fail(STATS_PATH, f"{key}/{name} has shape {stats[key][name].shape}, expected {shape}")
            if stats[key]["count"].tolist() != [self.info["total_frames"]]:
                raise self._fail(
                    STATS_PATH, f"{key}/count is {raw[key]['count']}, info.json has {self.info['total_frames']} frames"
                )
        return stats

    def _read_camera_sources(self) -> dict[str, CameraSource]:
        """The sources info.json's ``robostral.env_config`` records; a camera recorded before they were (or not in
        the simulator) stands for its image size square, used as it is."""
        provenance = self.info.get("robostral")
        env_config = provenance.get("env_config") if isinstance(provenance, dict) else None
        sources = {}
        for key, column in IMAGE_KEYS.items():
            if column not in self.features:
                continue
            name = SOURCE_FIELDS[key]
            recorded = env_config.get(name) if isinstance(env_config, dict) else None
            try:
                sources[key] = (CameraSource.direct(self.features[column]["shape"][0]) if recorded is None
                                else from_dict(CameraSource, recorded))
            except ValueError as error:
                raise self._fail(INFO_PATH, f"robostral.env_config.{name}: {error}") from None
        return sources

    def _read_tasks(self) -> list[str]:
        table = self._read_table(TASKS_PATH)
        if not {"task_index", "task"} <= set(table.column_names):
            raise self._fail(TASKS_PATH, f"needs columns task_index and task, has {table.column_names}")
        indices, tasks = table.column("task_index").to_pylist(), table.column("task").to_pylist()
        if indices != list(range(len(tasks))):
            raise self._fail(TASKS_PATH, "task_index must run 0, 1, 2, ... in order")
        if len(tasks) != self.info["total_tasks"]:
            total = self.info["total_tasks"]
            raise self._fail(TASKS_PATH, f"has {len(tasks)} tasks, info.json says total_tasks={total}")
        return tasks

    def _read_episodes(self) -> list[dict]:
        table = self._read_table(EPISODES_PATH)
        missing = [c for c in EPISODE_COLUMNS if c not in table.column_names]
        if missing:
            raise self._fail(EPISODES_PATH, f"missing column(s) {', '.join(missing)}")
        episodes = table.select(list(EPISODE_COLUMNS)).to_pylist()
        total = self.info["total_episodes"]
        if len(episodes) != total:
            raise self._fail(EPISODES_PATH, f"has {len(episodes)} episodes, info.json says total_episodes={total}")
        start = 0
        for i, episode in enumerate(episodes):
            where = f"episode {i}"
            if episode["episode_index"] != i:
                raise self._fail(EPISODES_PATH, f"{where} has episode_index {episode['episode_index']}")
            if episode["length"] < 1 or episode["dataset_from_index"] != start or (
                episode["dataset_to_index"] != start + episode["length"]
            ):
                raise self._fail(EPISODES_PATH, f"{where}: frames [{episode['dataset_from_index']}, "
                                 f"{episode['dataset_to_index']}) with length {episode['length']} do not follow on")
            unknown = [t for t in episode["tasks"] if t not in self.tasks]
            if unknown:
                raise self._fail(EPISODES_PATH, f"{where} has task(s) not in {TASKS_PATH}: {unknown}")
            start = episode["dataset_to_index"]
        if start != self.info["total_frames"]:
            raise self._fail(EPISODES_PATH, f"episodes hold {start} frames, info.json says total_frames="
                             f"{self.info['total_frames']}")
        return episodes

    def _read_data_columns(self) -> dict[str, np.ndarray]:
        """Every non-image column, checked against the schema and the episodes table."""
        numeric = [k for k in self.features if k not in image_keys(self.features)]
        parts: dict[str, list[np.ndarray]] = {k: [] for k in numeric}
        for relative, episodes in self._episodes_by_file().items():
            self._check_schema(relative)
            table = self._read_table(relative, numeric)
            expected = sum(e["length"] for e in episodes)
            if table.num_rows != expected:
                raise self._fail(relative, f"has {table.num_rows} frames, its episodes hold {expected}")
            for key in numeric:
                column = table.column(key).combine_chunks()
                if pa.types.is_fixed_size_list(column.type):
                    values = column.flatten().to_numpy().reshape(len(column), column.type.list_size)
                else:
                    values = column.to_numpy(zero_copy_only=False)
                parts[key].append(values)
            self._check_frames(relative, episodes, {k: parts[k][-1] for k in numeric})
        dtypes = {"float32": np.float32, "int64": np.int64, "bool": np.bool_}
        columns = {}
        for key in numeric:
            feature = self.features[key]
            empty = np.zeros((0, *([] if feature["shape"] == [1] else feature["shape"])), dtypes[feature["dtype"]])
            columns[key] = np.concatenate(parts[key]) if parts[key] else empty
        return columns

    def _episodes_by_file(self) -> dict[str, list[dict]]:
        """Episodes grouped by data file, files in index order; a file's episodes must be consecutive."""
        files: dict[str, list[dict]] = {}
        previous = None
        for episode in self.episodes:
            relative = self.data_file(episode)
            if relative != previous and relative in files:
                raise self._fail(EPISODES_PATH, f"the episodes in {relative} are not consecutive")
            files.setdefault(relative, []).append(episode)
            previous = relative
        return files

    def _check_schema(self, relative: str) -> None:
        schema = self._read_schema(relative)
        for key, feature in self.features.items():
            if key not in schema.names:
                raise self._fail(relative, f"missing column {key}")
            if schema.field(key).type != arrow_type(feature):
                raise self._fail(relative, f"column {key} is {schema.field(key).type}, info.json says "
                                 f"{feature['dtype']} {feature['shape']}")

    def _check_frames(self, relative: str, episodes: list[dict], values: dict[str, np.ndarray]) -> None:
        start = episodes[0]["dataset_from_index"]
        stop = episodes[-1]["dataset_to_index"]
        if not np.array_equal(values["index"], np.arange(start, stop)):
            raise self._fail(relative, f"index column is not {start}..{stop - 1} in order")
        offset = 0
        for episode in episodes:
            rows = slice(offset, offset + episode["length"])
            offset += episode["length"]
            if not (values["episode_index"][rows] == episode["episode_index"]).all():
                raise self._fail(relative, f"frames of episode {episode['episode_index']} carry other episode_index")
            if not np.array_equal(values["frame_index"][rows], np.arange(episode["length"])):
                raise self._fail(relative, f"frame_index of episode {episode['episode_index']} is not 0, 1, 2, ...")
            task_indices = {self.tasks.index(t) for t in episode["tasks"]}
            if not set(values["task_index"][rows].tolist()) <= task_indices:
                raise self._fail(relative, f"task_index of episode {episode['episode_index']} is not among its tasks")
        expected_time = values["frame_index"] / self.fps
        if not np.allclose(values["timestamp"], expected_time, atol=1e-4):
            raise self._fail(relative, f"timestamps are not frame_index / fps ({self.fps} fps)")
        for key in (STATE, ACTION):
            bad = ~np.isfinite(values[key])
            if bad.any():
                row = int(np.flatnonzero(bad.any(axis=1))[0]) + start
                raise self._fail(relative, f"{key} has NaN or infinite values (first at index {row})")

    def image_frames(self, key: str, episode: int | None = None) -> Iterator[tuple[bytes, np.ndarray]]:
        """Each frame of the image column ``key`` in index order (of episode ``episode`` only, when given: only
        its data file is read): its PNG bytes and the decoded (H, W, 3) uint8 array, checked (a frame that is
        no PNG, or of another shape, raises ``DatasetError``)."""
        if self.features.get(key, {}).get("dtype") != "image":
            raise DatasetError(f"{self.root}: {key!r} is not an image column; columns: {list(self.features)}")
        if episode is not None and not 0 <= episode < len(self.episodes):
            raise DatasetError(f"{self.root}: no episode {episode}; it has {len(self.episodes)}")
        shape = tuple(self.features[key]["shape"])
        for relative, episodes in self._episodes_by_file().items():
            if episode is not None and self.data_file(self.episodes[episode]) != relative:
                continue
            first = episodes[0]["dataset_from_index"]
            rows = episodes if episode is None else [self.episodes[episode]]
            start, stop = rows[0]["dataset_from_index"], rows[-1]["dataset_to_index"]
            column = self._read_table(relative, [key]).column(key)
            cells = column.combine_chunks().field("bytes").slice(start - first, stop - start).to_pylist()
            for row, cell in enumerate(cells, start):
                try:
                    image = decode_png(cell)
                except (OSError, ValueError, TypeError) as error:
                    raise self._fail(relative, f"{key} at index {row} is not a PNG image ({error})") from None
                if image.shape != shape:
                    raise self._fail(relative, f"{key} at index {row} has shape {image.shape}, expected {shape}")
                yield cell, image

    def _read_images(self, key: str, encoded: bool) -> np.ndarray | EncodedImages:
        shape = tuple(self.features[key]["shape"])
        if encoded:
            return EncodedImages([cell for cell, _ in self.image_frames(key)], shape)
        images = np.empty((self.num_frames, *shape), dtype=np.uint8)
        for row, (_, image) in enumerate(self.image_frames(key)):
            images[row] = image
        return images
