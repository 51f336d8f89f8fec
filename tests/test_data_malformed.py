"""robostral.data refuses a malformed dataset with an error that names the file and the problem."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from robostral.data import DatasetError, DatasetSpec, DatasetWriter, Episode, load_dataset

SPEC = DatasetSpec("panda", ("j1", "j2", "grip"), fps=20, image_size=4, wrist=False)
DATA = "data/chunk-000/file-000.parquet"


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    rng = np.random.default_rng(3)
    root = tmp_path_factory.mktemp("pristine") / "ds"
    with DatasetWriter(root, SPEC) as writer:
        for seed in range(3):
            writer.add(Episode.encode(
                sim_task="push", seed=seed, robot="panda", instruction=f"push the cube {seed}", success=True,
                images={"observation.images.front": rng.integers(0, 256, (5, 4, 4, 3), dtype=np.uint8)},
                state=rng.normal(size=(5, 5)), action=rng.normal(size=(5, 3)),
            ))
    return root


@pytest.fixture
def dataset(pristine, tmp_path) -> Path:
    copy = tmp_path / "ds"
    shutil.copytree(pristine, copy)
    load_dataset(copy)  # valid before we break it
    return copy


def edit_json(path: Path, edit) -> None:
    value = json.loads(path.read_text())
    edit(value)
    path.write_text(json.dumps(value))


def rewrite_data(root: Path, change) -> None:
    """Rewrite the data file with one column replaced by ``change(table)`` -> (name, array)."""
    path = root / DATA
    table = pq.read_table(path)
    name, array = change(table)
    table = table.set_column(table.column_names.index(name), pa.field(name, array.type), array)
    pq.write_table(table, path)


def expect(root: Path, file: str, needle: str) -> None:
    with pytest.raises(DatasetError) as error:
        load_dataset(root)
    message = str(error.value)
    assert str(root / file) in message and needle in message, message


@pytest.mark.parametrize("missing", ["meta/info.json", "meta/stats.json", "meta/tasks.parquet",
                                     "meta/episodes/chunk-000/file-000.parquet", DATA])
def test_a_missing_file(dataset, missing):
    (dataset / missing).unlink()
    expect(dataset, missing, "missing")


def test_a_truncated_data_file(dataset):
    path = dataset / DATA
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    expect(dataset, DATA, "unreadable parquet")


def test_corrupt_bytes_inside_a_data_file(dataset):
    path = dataset / DATA
    data = bytearray(path.read_bytes())
    start = data.index(b"\x89PNG")  # inside the image column, whose pages carry checksums
    data[start + 20: start + 28] = b"\xff" * 8
    path.write_bytes(bytes(data))
    with pytest.raises(DatasetError, match="file-000.parquet"):
        load_dataset(dataset).load_arrays()


def test_a_truncated_metadata_file(dataset):
    path = dataset / "meta/info.json"
    path.write_text(path.read_text()[:50])
    expect(dataset, "meta/info.json", "not valid JSON")


@pytest.mark.parametrize("key, value, file, needle", [
    ("total_episodes", 4, "meta/episodes/chunk-000/file-000.parquet", "total_episodes=4"),
    ("total_frames", 14, "meta/episodes/chunk-000/file-000.parquet", "total_frames=14"),
    ("total_tasks", 2, "meta/tasks.parquet", "total_tasks=2"),
    ("codebase_version", "v2.1", "meta/info.json", "codebase_version is 'v2.1'"),
])
def test_info_that_disagrees_with_the_data(dataset, key, value, file, needle):
    edit_json(dataset / "meta/info.json", lambda info: info.__setitem__(key, value))
    expect(dataset, file, needle)


def test_stats_whose_count_disagrees(dataset):
    edit_json(dataset / "meta/stats.json", lambda stats: stats["action"].__setitem__("count", [14]))
    expect(dataset, "meta/stats.json", "action/count")


def test_a_feature_missing_from_info(dataset):
    edit_json(dataset / "meta/info.json", lambda info: info["features"].pop("observation.state"))
    expect(dataset, "meta/info.json", "features lack observation.state")


def test_nan_in_actions(dataset):
    def nan_action(table):
        values = table.column("action").combine_chunks().flatten().to_numpy().copy()
        values[4] = np.nan
        return "action", pa.FixedSizeListArray.from_arrays(pa.array(values, pa.float32()), 3)

    rewrite_data(dataset, nan_action)
    expect(dataset, DATA, "action has NaN or infinite values (first at index 1)")


def test_a_column_of_the_wrong_type(dataset):
    def float64_state(table):
        values = table.column("observation.state").combine_chunks().flatten().to_numpy().astype(np.float64)
        return "observation.state", pa.FixedSizeListArray.from_arrays(pa.array(values), 5)

    rewrite_data(dataset, float64_state)
    expect(dataset, DATA, "says float32 [5]")


def test_frames_whose_index_does_not_follow(dataset):
    rewrite_data(dataset, lambda table: ("index", pc.add(table.column("index"), 1).combine_chunks()))
    expect(dataset, DATA, "index column is not 0..14")


def test_a_missing_column(dataset):
    path = dataset / DATA
    pq.write_table(pq.read_table(path).drop_columns(["next.done"]), path)
    expect(dataset, DATA, "missing column next.done")


@pytest.mark.parametrize("encoded", [False, True])
def test_a_frame_that_is_not_a_png_is_refused_when_loaded(dataset, encoded):
    key = "observation.images.front"

    def garbage_frame(table):
        cells = table.column(key).combine_chunks()
        frames = cells.field("bytes").to_pylist()
        frames[7] = b"not a png"
        return key, pa.StructArray.from_arrays([pa.array(frames, pa.binary()), cells.field("path")],
                                               fields=list(cells.type))

    rewrite_data(dataset, garbage_frame)
    with pytest.raises(DatasetError, match=f"file-000.parquet: {key} at index 7 is not a PNG image"):
        load_dataset(dataset).load_arrays([key], encoded_images=encoded)
