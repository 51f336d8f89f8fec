"""`robostral dataset merge`: episodes of several datasets of one kind in a new one, frame for frame as stored;
datasets of another kind, a (task, seed) twice, an existing --out or a bad index are refused with nothing written."""

from __future__ import annotations

import numpy as np
import pytest

from robostral.cli import main
from robostral.data import DatasetError, load_dataset
from robostral.data.collect import CollectConfig, collect
from robostral.data.layout import ACTION, IMAGE_KEYS, STATE
from robostral.data.merge import MergeSource, merge_datasets

COLUMNS = [IMAGE_KEYS["image"], IMAGE_KEYS["wrist_image"], STATE, ACTION]


def collected(root, tasks, seed, image_size=16):
    collect(CollectConfig(out=str(root), tasks=tasks, episodes=2, workers=1, image_size=image_size, wrist=True,
                          seed=seed), progress=False)
    return root


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    """Two small datasets of the same kind, other tasks and seeds: 'reach' and 'push', 2 episodes each."""
    root = tmp_path_factory.mktemp("merge")
    return collected(root / "reach", ("reach",), 0), collected(root / "push", ("push",), 100)


def episode(data, index: int) -> dict:
    row = data.episodes[index]
    rows = slice(row["dataset_from_index"], row["dataset_to_index"])
    arrays = data.load_arrays(COLUMNS)
    return {"frames": {key: arrays[key][rows] for key in COLUMNS},
            "identity": (row["sim_task"], row["seed"], row["success"], row["tasks"]),
            "scene": data.episode_randomization(index)}


def test_merged_episodes_are_their_sources_frame_for_frame(sources, tmp_path, capsys):
    reach, push = sources
    out = tmp_path / "merged"
    assert main(["dataset", "merge", str(reach), f"{push}:1", "--out", str(out)]) == 0
    assert f"{out}: 3 episodes from 2 datasets" in capsys.readouterr().out
    merged, originals = load_dataset(out), [load_dataset(reach), load_dataset(push)]
    expected = [(originals[0], 0), (originals[0], 1), (originals[1], 1)]
    assert len(merged.episodes) == 3 and set(merged.tasks) == {e["tasks"][0] for e in merged.episodes}
    for index, (source, source_index) in enumerate(expected):
        got, want = episode(merged, index), episode(source, source_index)
        assert got["identity"] == want["identity"] and got["scene"] == want["scene"] and want["scene"]
        for key in COLUMNS:
            np.testing.assert_array_equal(got["frames"][key], want["frames"][key], err_msg=key)
    assert merged.camera_sources == originals[0].camera_sources
    provenance = merged.info["robostral"]["merged_from"]
    assert [(p["dataset"], p["episodes"], p["hash"]) for p in provenance] == [
        (str(reach), [0, 1], originals[0].hash()), (str(push), [1], originals[1].hash())]


def test_what_cannot_be_merged_is_refused_and_nothing_is_written(sources, tmp_path):
    reach, push = sources
    other = collected(tmp_path / "wide", ("reach",), 500, image_size=24)  # another image size
    cases = {
        "is not the same kind of dataset": [MergeSource(load_dataset(reach)), MergeSource(load_dataset(other))],
        r"episode 0 \(reach seed 0\) is also in": [MergeSource(load_dataset(reach)), MergeSource(load_dataset(reach),
                                                                                                 [0])],
        "no episode 7; it has 2": [MergeSource(load_dataset(push), [7])],
        "nothing to merge": [],
    }
    for message, parts in cases.items():
        with pytest.raises(DatasetError, match=message):
            merge_datasets(tmp_path / "out", parts, "test")
        assert not (tmp_path / "out").exists()
    (tmp_path / "out").mkdir()
    with pytest.raises(DatasetError, match="exists: a merge writes a new dataset"):
        merge_datasets(tmp_path / "out", [MergeSource(load_dataset(reach))], "test")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no staging left behind
