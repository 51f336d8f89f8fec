"""The LeRobotDataset v3.0 layout: paths, size limits, feature specs and their Arrow schemas.

A dataset directory holds::

    meta/info.json                              schema, counts, path templates, provenance
    meta/stats.json                             per-feature mean/std/min/max/count
    meta/tasks.parquet                          task (instruction text) -> task_index
    meta/episodes/chunk-000/file-000.parquet    one row per episode
    data/chunk-XXX/file-XXX.parquet             frames; images as PNG structs {bytes, path}

Images are stored inside the data files, like Hugging Face datasets' ``Image`` feature,
so ``video_path`` is null.
"""

from __future__ import annotations

import json

import pyarrow as pa

CODEBASE_VERSION = "v3.0"
INFO_PATH = "meta/info.json"
STATS_PATH = "meta/stats.json"
TASKS_PATH = "meta/tasks.parquet"
EPISODES_PATH = "meta/episodes/chunk-000/file-000.parquet"
DATA_PATH = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
CHUNKS_SIZE = 1000  # files per chunk directory
DATA_FILES_SIZE_IN_MB = 100  # a data file is closed before it grows past this
VIDEO_FILES_SIZE_IN_MB = 500  # LeRobot's default; unused, images live in the data files

STATE = "observation.state"
ACTION = "action"
IMAGE_KEYS = {"image": "observation.images.front", "wrist_image": "observation.images.wrist"}
INDEX_FEATURES = ("timestamp", "frame_index", "episode_index", "index", "task_index", "next.done")

IMAGE_TYPE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
_SCALAR_TYPES = {"float32": pa.float32(), "int64": pa.int64(), "bool": pa.bool_()}


def make_features(joint_names: list[str], image_size: int, wrist: bool) -> dict[str, dict]:
    """The ``features`` of info.json: dtype, shape and names of every column of the data files.

    ``joint_names`` are the arm joints then the gripper's driving joint (the action order);
    the state is arm positions [rad], arm velocities [rad/s], then the gripper position.
    """
    if image_size <= 0:
        raise ValueError(f"a dataset needs camera images: image_size must be > 0, got {image_size}")
    arm, gripper = joint_names[:-1], joint_names[-1]
    image = {"dtype": "image", "shape": [image_size, image_size, 3], "names": ["height", "width", "channels"]}
    features = {IMAGE_KEYS["image"]: image}
    if wrist:
        features[IMAGE_KEYS["wrist_image"]] = dict(image)
    state_names = [f"{j}.pos" for j in arm] + [f"{j}.vel" for j in arm] + [f"{gripper}.pos"]
    features[STATE] = {"dtype": "float32", "shape": [len(state_names)], "names": state_names}
    features[ACTION] = {"dtype": "float32", "shape": [len(joint_names)], "names": list(joint_names)}
    features["timestamp"] = {"dtype": "float32", "shape": [1], "names": None}
    for name in ("frame_index", "episode_index", "index", "task_index"):
        features[name] = {"dtype": "int64", "shape": [1], "names": None}
    features["next.done"] = {"dtype": "bool", "shape": [1], "names": None}
    return features


def image_keys(features: dict[str, dict]) -> list[str]:
    return [key for key, feature in features.items() if feature["dtype"] == "image"]


def arrow_type(feature: dict) -> pa.DataType:
    """The Arrow type of one feature's column: a PNG struct, a scalar or a fixed-size list."""
    if feature["dtype"] == "image":
        return IMAGE_TYPE
    scalar = _SCALAR_TYPES[feature["dtype"]]
    shape = list(feature["shape"])
    return scalar if shape == [1] else pa.list_(scalar, shape[0])


def arrow_schema(features: dict[str, dict]) -> pa.Schema:
    """The data files' schema, with the ``huggingface`` metadata that lets ``datasets`` decode images."""
    hf_features = {}
    for key, feature in features.items():
        if feature["dtype"] == "image":
            hf_features[key] = {"_type": "Image"}
        elif list(feature["shape"]) == [1]:
            hf_features[key] = {"dtype": feature["dtype"], "_type": "Value"}
        else:
            value = {"dtype": feature["dtype"], "_type": "Value"}
            hf_features[key] = {"feature": value, "length": feature["shape"][0], "_type": "Sequence"}
    metadata = {"huggingface": json.dumps({"info": {"features": hf_features}})}
    return pa.schema([(key, arrow_type(feature)) for key, feature in features.items()], metadata=metadata)


def data_path(file_number: int) -> str:
    """The relative path of the ``file_number``-th data file (0-based, across chunks)."""
    chunk_index, file_index = divmod(file_number, CHUNKS_SIZE)
    return DATA_PATH.format(chunk_index=chunk_index, file_index=file_index)


def episodes_schema(features: dict[str, dict]) -> pa.Schema:
    """One row per episode: LeRobot's columns, per-episode stats, then Robostral's provenance."""
    fields = [
        ("episode_index", pa.int64()),
        ("tasks", pa.list_(pa.string())),
        ("length", pa.int64()),
        ("data/chunk_index", pa.int64()),
        ("data/file_index", pa.int64()),
        ("dataset_from_index", pa.int64()),
        ("dataset_to_index", pa.int64()),
        ("meta/episodes/chunk_index", pa.int64()),
        ("meta/episodes/file_index", pa.int64()),
    ]
    for key, feature in features.items():
        value = pa.list_(pa.list_(pa.list_(pa.float64()))) if feature["dtype"] == "image" else pa.list_(pa.float64())
        fields += [(f"stats/{key}/{stat}", value) for stat in ("min", "max", "mean", "std")]
        fields.append((f"stats/{key}/count", pa.list_(pa.int64())))
    fields += [
        ("seed", pa.int64()),
        ("sim_task", pa.string()),
        ("robot", pa.string()),
        ("success", pa.bool_()),
        ("randomization", pa.string()),  # JSON object of this episode's randomized values
    ]
    return pa.schema(fields)


def tasks_schema() -> pa.Schema:
    """``task_index`` plus the task text, marked (as pandas writes it) as the frame's index."""
    pandas = {
        "index_columns": ["task"],
        "column_indexes": [
            {"name": None, "field_name": None, "pandas_type": "unicode", "numpy_type": "object",
             "metadata": {"encoding": "UTF-8"}}
        ],
        "columns": [
            {"name": "task_index", "field_name": "task_index", "pandas_type": "int64", "numpy_type": "int64",
             "metadata": None},
            {"name": "task", "field_name": "task", "pandas_type": "unicode", "numpy_type": "object",
             "metadata": None},
        ],
        "creator": {"library": "pyarrow", "version": pa.__version__},
        "pandas_version": "2.2.3",
    }
    return pa.schema([("task_index", pa.int64()), ("task", pa.string())], metadata={"pandas": json.dumps(pandas)})
