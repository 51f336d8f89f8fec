"""robostral.data: what the writer writes, the reader reads back bit for bit, in the LeRobot v3.0 layout."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from robostral.data import DatasetError, DatasetSpec, DatasetWriter, Episode, load_dataset
from robostral.data.encoded_images import EncodedImages
from robostral.data.files import JOURNAL_PATH

ROOT = Path(__file__).resolve().parent.parent
JOINTS = ("j1", "j2", "j3", "grip")
SPEC = DatasetSpec("panda", JOINTS, fps=20, image_size=8, wrist=True)


def make_episode(rng: np.random.Generator, seed: int, length: int, instruction: str = "reach the red target"):
    return Episode.encode(
        sim_task="reach",
        seed=seed,
        robot="panda",
        instruction=instruction,
        success=True,
        images={
            "observation.images.front": rng.integers(0, 256, (length, 8, 8, 3), dtype=np.uint8),
            "observation.images.wrist": rng.integers(0, 256, (length, 8, 8, 3), dtype=np.uint8),
        },
        state=rng.normal(size=(length, 7)).astype(np.float32),
        action=rng.normal(size=(length, 4)).astype(np.float32),
        randomization={"camera_dx": float(rng.uniform())},
    )


def raw_frames(episode: Episode) -> dict[str, np.ndarray]:
    """The episode's frames as the reader returns them (images decoded back from the PNGs)."""
    from robostral.data.episode import decode_png

    frames = {key: np.stack([decode_png(b) for b in pngs]) for key, pngs in episode.png.items()}
    return {**frames, "observation.state": episode.state, "action": episode.action}


@pytest.fixture
def written(tmp_path):
    """A dataset written in two flushes (so two data files), and the episodes that went in."""
    rng = np.random.default_rng(0)
    instructions = ["reach the red target", "go to the blue marker"]
    episodes = [make_episode(rng, seed, int(rng.integers(2, 9)), instructions[seed % 2]) for seed in range(5)]
    root = tmp_path / "ds"
    with DatasetWriter(root, SPEC, {"note": "test"}) as writer:
        for i, episode in enumerate(episodes):
            writer.add(episode)
            if i == 2:
                writer.flush()
    return root, episodes


def test_round_trip_is_bit_identical(written):
    root, episodes = written
    ds = load_dataset(root)
    arrays = ds.load_arrays()
    assert ds.num_frames == sum(e.length for e in episodes) == len(arrays["index"])
    assert ds.fps == 20 and ds.robot == "panda" and ds.joint_names == list(JOINTS)
    assert ds.tasks == ["reach the red target", "go to the blue marker"]
    assert ds.info["robostral"] == {"note": "test"}
    for episode, row in zip(episodes, ds.episodes):
        frames = slice(row["dataset_from_index"], row["dataset_to_index"])
        assert (row["sim_task"], row["seed"], row["robot"], row["success"]) == ("reach", episode.seed, "panda", True)
        assert row["tasks"] == [episode.instruction] and row["length"] == episode.length
        for key, values in raw_frames(episode).items():
            assert arrays[key][frames].dtype == values.dtype
            np.testing.assert_array_equal(arrays[key][frames], values)
        np.testing.assert_array_equal(arrays["frame_index"][frames], np.arange(episode.length))
        assert (arrays["episode_index"][frames] == row["episode_index"]).all()
        assert (arrays["task_index"][frames] == ds.tasks.index(episode.instruction)).all()
        assert arrays["next.done"][frames].tolist() == [False] * (episode.length - 1) + [True]
        np.testing.assert_allclose(arrays["timestamp"][frames], np.arange(episode.length) / 20, atol=1e-6)
    np.testing.assert_array_equal(arrays["index"], np.arange(ds.num_frames))
    assert arrays["observation.images.front"].shape == (ds.num_frames, 8, 8, 3)
    assert arrays["observation.state"].dtype == np.float32 and arrays["index"].dtype == np.int64
    assert list(ds.load_arrays(["action", "index"])) == ["action", "index"]
    with pytest.raises(DatasetError, match="no column"):
        ds.load_arrays(["observation.images.side"])


def test_encoded_images_decode_to_the_same_frames(written):
    ds = load_dataset(written[0])
    key = "observation.images.front"
    decoded, encoded = ds.load_arrays([key])[key], ds.load_arrays([key], encoded_images=True)[key]
    assert isinstance(encoded, EncodedImages) and encoded.shape == decoded.shape and len(encoded) == len(decoded)
    np.testing.assert_array_equal(encoded[np.arange(len(decoded))], decoded)
    np.testing.assert_array_equal(encoded[np.array([[3, 0], [1, 1]])], decoded[[[3, 0], [1, 1]]])
    np.testing.assert_array_equal(encoded[-1], decoded[-1])
    with pytest.raises(IndexError, match=f"frame {len(decoded)} out of range"):
        encoded[np.array([0, len(decoded)])]


def test_stats_match_numpy(written):
    root, _ = written
    ds = load_dataset(root)
    arrays = ds.load_arrays()
    for key, values in arrays.items():
        stats = ds.stats[key]
        if values.dtype == np.uint8:  # images: per channel, in [0, 1], shaped (3, 1, 1) like LeRobot
            values = values.reshape(-1, 3) / 255.0
            shape = (3, 1, 1)
        else:
            values = values.astype(np.float64).reshape(len(values), -1)
            shape = (values.shape[1],)
        for name, expected in [("min", values.min(0)), ("max", values.max(0)), ("mean", values.mean(0)),
                               ("std", values.std(0))]:
            assert stats[name].shape == shape, (key, name)
            np.testing.assert_allclose(stats[name].ravel(), expected, rtol=1e-9, atol=1e-12, err_msg=f"{key} {name}")
        assert stats["count"].tolist() == [ds.num_frames]


def test_hash_is_stable_and_covers_the_data(written, tmp_path):
    root, _ = written
    first = load_dataset(root).hash()
    assert load_dataset(root).hash() == first and len(first) == 64
    copy = tmp_path / "copy"
    subprocess.run(["cp", "-r", str(root), str(copy)], check=True)
    assert load_dataset(copy).hash() == first  # content, not location
    with DatasetWriter(copy, SPEC) as writer:
        writer.add(make_episode(np.random.default_rng(1), 99, 3))
    assert load_dataset(copy).hash() != first


def test_layout_follows_lerobot_v3(written):
    """The documented v3.0 schema (LeRobot's datasets/utils.py and dataset_metadata.py), checked file by file."""
    root, episodes = written
    info = json.loads((root / "meta/info.json").read_text())
    assert info["codebase_version"] == "v3.0"
    assert info["data_path"] == "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
    assert info["video_path"] is None
    assert (info["total_episodes"], info["total_tasks"]) == (5, 2)
    assert info["total_frames"] == sum(e.length for e in episodes)
    assert info["splits"] == {"train": "0:5"}
    assert info["chunks_size"] == 1000 and info["data_files_size_in_mb"] == 100
    assert info["video_files_size_in_mb"] == 500 and info["robot_type"] == "panda" and info["fps"] == 20
    features = info["features"]
    assert features["observation.images.front"] == {
        "dtype": "image", "shape": [8, 8, 3], "names": ["height", "width", "channels"]
    }
    assert features["action"] == {"dtype": "float32", "shape": [4], "names": list(JOINTS)}
    assert features["observation.state"]["names"] == [
        "j1.pos", "j2.pos", "j3.pos", "j1.vel", "j2.vel", "j3.vel", "grip.pos"
    ]
    for name, dtype in [("timestamp", "float32"), ("frame_index", "int64"), ("episode_index", "int64"),
                        ("index", "int64"), ("task_index", "int64"), ("next.done", "bool")]:
        assert features[name] == {"dtype": dtype, "shape": [1], "names": None}
    assert all("/" not in name for name in features)  # LeRobot refuses '/' in feature names

    stats = json.loads((root / "meta/stats.json").read_text())
    assert set(stats) == set(features)
    assert set(stats["action"]) == {"min", "max", "mean", "std", "count"}
    assert np.shape(stats["observation.images.front"]["mean"]) == (3, 1, 1)

    tasks = pq.read_table(root / "meta/tasks.parquet")
    assert tasks.column_names == ["task_index", "task"]
    assert json.loads(tasks.schema.metadata[b"pandas"])["index_columns"] == ["task"]  # pandas: task is the index

    rows = pq.read_table(root / "meta/episodes/chunk-000/file-000.parquet")
    for column in ["episode_index", "tasks", "length", "data/chunk_index", "data/file_index", "dataset_from_index",
                   "dataset_to_index", "meta/episodes/chunk_index", "meta/episodes/file_index",
                   "stats/action/mean", "stats/observation.images.front/std", "seed", "sim_task", "robot", "success"]:
        assert column in rows.column_names, column
    assert rows.column("data/file_index").to_pylist() == [0, 0, 0, 1, 1]  # one new data file per flush

    data_files = sorted((root / "data").glob("chunk-*/file-*.parquet"))
    assert [p.relative_to(root).as_posix() for p in data_files] == [
        "data/chunk-000/file-000.parquet", "data/chunk-000/file-001.parquet"
    ]
    schema = pq.read_schema(data_files[0])
    assert schema.names == list(features)
    image_type = pa.struct([("bytes", pa.binary()), ("path", pa.string())])  # HF datasets' Image feature
    assert schema.field("observation.images.front").type == image_type
    assert schema.field("observation.state").type == pa.list_(pa.float32(), 7)
    assert schema.field("next.done").type == pa.bool_()
    hf = json.loads(schema.metadata[b"huggingface"])["info"]["features"]
    assert hf["observation.images.front"] == {"_type": "Image"}
    assert hf["action"] == {"feature": {"dtype": "float32", "_type": "Value"}, "length": 4, "_type": "Sequence"}
    cell = pq.read_table(data_files[0]).column("observation.images.front")[0].as_py()
    assert cell["path"] is None and cell["bytes"].startswith(b"\x89PNG")
    assert not list(root.glob("**/.*.tmp")) and not (root / JOURNAL_PATH).exists()


def test_writer_refuses_mixing_and_bad_episodes(written, tmp_path):
    root, episodes = written
    for spec, needle in [
        (DatasetSpec("xarm6", JOINTS, 20, 8, True), "robot is 'panda'"),
        (DatasetSpec("panda", JOINTS, 20, 16, True), "image size is 8"),
        (DatasetSpec("panda", JOINTS, 20, 8, False), "wrist camera is True"),
        (DatasetSpec("panda", JOINTS, 10, 8, True), "fps is 20"),
    ]:
        with pytest.raises(DatasetError, match=needle):
            DatasetWriter(root, spec)
    with DatasetWriter(root, SPEC) as writer:
        with pytest.raises(ValueError, match="already in the dataset"):
            writer.add(episodes[0])
        with pytest.raises(DatasetError, match="another process is writing"):
            DatasetWriter(root, SPEC)
        with pytest.raises(DatasetError, match="a collection is writing"):
            load_dataset(root)
    with pytest.raises(ValueError, match="NaN"):
        Episode.encode(sim_task="reach", seed=0, robot="panda", instruction="x", success=True,
                       images={"observation.images.front": np.zeros((2, 8, 8, 3), np.uint8)},
                       state=np.zeros((2, 7)), action=np.full((2, 4), np.nan))
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(DatasetError, match="not a dataset"):
        DatasetWriter(tmp_path / "other", SPEC)


CRASH_AFTER_COMMIT = """
import os, signal, sys
import numpy as np
sys.path[:0] = [{tests!r}, {root!r}]
import robostral.data.files as files
from test_data_dataset import SPEC, make_episode
from robostral.data import DatasetWriter

renames = []
real_replace = os.replace
def replace_then_die(source, target):
    real_replace(source, target)
    if (files.Path({ds!r}) / files.JOURNAL_PATH).exists():
        renames.append(target)
        if len(renames) == 3:  # the journal, tasks and episodes are in place; stats and info are not
            os.kill(os.getpid(), signal.SIGKILL)
files.os.replace = replace_then_die
writer = DatasetWriter({ds!r}, SPEC)
writer.add(make_episode(np.random.default_rng(7), 77, 4, "a brand new instruction"))
writer.flush()
"""


def test_a_crash_in_the_middle_of_a_metadata_update_loses_nothing(written):
    """Killed after the commit with half the metadata renamed: readers see the new state, a writer finishes it."""
    root, episodes = written
    script = CRASH_AFTER_COMMIT.format(tests=str(ROOT / "tests"), root=str(ROOT), ds=str(root))
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True)
    assert result.returncode == -signal.SIGKILL, result.stderr
    assert (root / JOURNAL_PATH).exists()
    ds = load_dataset(root)
    assert ds.info["total_episodes"] == len(ds.episodes) == 6 and ds.tasks[-1] == "a brand new instruction"
    assert ds.load_arrays(["action"])["action"].shape == (ds.num_frames, 4)
    with DatasetWriter(root, SPEC):
        pass
    assert not (root / JOURNAL_PATH).exists() and not list(root.glob("meta/**/.*.staged"))
    assert json.loads((root / "meta/info.json").read_text())["total_episodes"] == 6
    assert load_dataset(root).hash() == ds.hash()


def test_a_killed_writer_leaves_an_orphan_that_readers_ignore_and_writers_remove(written):
    root, _ = written
    orphan = root / "data/chunk-000/file-002.parquet"
    orphan.write_bytes((root / "data/chunk-000/file-001.parquet").read_bytes())
    stale = root / "meta/.info.json.123.tmp"
    stale.write_text("{")
    ds = load_dataset(root)
    assert ds.info["total_episodes"] == 5
    with DatasetWriter(root, SPEC) as writer:
        assert writer.removed_strays == ["data/chunk-000/file-002.parquet", "meta/.info.json.123.tmp"]
    assert not orphan.exists() and not stale.exists()
    assert load_dataset(root).hash() == ds.hash()
    assert sorted(os.listdir(root / "data/chunk-000")) == ["file-000.parquet", "file-001.parquet"]
