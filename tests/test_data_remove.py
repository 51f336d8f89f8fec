"""Removing episodes from a dataset: what is left is the dataset its episodes alone would make, and a crash at any
point leaves a dataset that loads, with every episode that was not being removed."""

from __future__ import annotations

import json

import numpy as np
import pytest

import robostral.data.remove as remove_module
from robostral.data import DatasetError, DatasetSpec, DatasetWriter, Episode, load_dataset
from robostral.data.layout import STATE
from robostral.data.remove import remove_episodes
from robots import load_robot

PANDA = load_robot("panda")
SPEC = DatasetSpec("panda", PANDA.joint_names, 20, 8, wrist=False)
TASKS = ("pick up the red cube", "push the blue cube", "reach the green target")


def episode(seed: int, task: str, length: int) -> Episode:
    rng = np.random.default_rng(seed)
    joints = len(PANDA.joint_names)
    return Episode.encode(sim_task="test", seed=seed, robot="panda", instruction=task, success=True,
                          images={"observation.images.front": rng.integers(0, 256, (length, 8, 8, 3), np.uint8)},
                          state=rng.normal(size=(length, 2 * joints - 1)), action=rng.normal(size=(length, joints)))


EPISODES = [episode(0, TASKS[0], 5), episode(1, TASKS[1], 7), episode(2, TASKS[0], 4), episode(3, TASKS[2], 6),
            episode(4, TASKS[1], 3)]


def write(root, groups: list[list[Episode]], provenance: dict | None = None) -> None:
    """One flush (one data file) per group."""
    with DatasetWriter(root, SPEC, provenance) as writer:
        for group in groups:
            for item in group:
                writer.add(item)
            writer.flush()


def content(root) -> dict:
    """Everything a reader sees: metadata, stats and every frame."""
    data = load_dataset(root)
    arrays = data.load_arrays()
    info = {k: v for k, v in data.info.items() if k != "robostral"}
    where = ("data/chunk_index", "data/file_index")  # which file holds an episode may differ
    episodes = [{k: v for k, v in e.items() if k not in where} for e in data.episodes]
    return {"info": info, "tasks": data.tasks, "episodes": episodes, "arrays": arrays,
            "stats": {k: {n: v.tolist() for n, v in s.items()} for k, s in data.stats.items()}}


def assert_same(left: dict, right: dict) -> None:
    assert left["info"] == right["info"] and left["tasks"] == right["tasks"] and left["episodes"] == right["episodes"]
    for key in left["arrays"]:
        np.testing.assert_array_equal(left["arrays"][key], right["arrays"][key], err_msg=key)
    for key in left["stats"]:
        for name in left["stats"][key]:
            np.testing.assert_allclose(left["stats"][key][name], right["stats"][key][name], atol=1e-9,
                                       err_msg=f"{key}/{name}")


@pytest.mark.parametrize("removed", [[1], [0], [4], [2, 3], [0, 1, 2, 3, 4]])
def test_what_is_left_is_the_dataset_of_the_other_episodes(tmp_path, removed):
    write(tmp_path / "data", [[EPISODES[0]], [EPISODES[1], EPISODES[2]], [EPISODES[3]], [EPISODES[4]]])
    left = remove_episodes(tmp_path / "data", removed)
    others = [e for i, e in enumerate(EPISODES) if i not in removed]
    assert left == len(others)
    write(tmp_path / "expected", [others] if others else [])
    assert_same(content(tmp_path / "data"), content(tmp_path / "expected"))
    # the dataset takes new episodes after a removal, and the files no episode refers to are gone
    write(tmp_path / "data", [[episode(9, TASKS[2], 2)]])
    data = load_dataset(tmp_path / "data")
    assert [e["seed"] for e in data.episodes] == [e.seed for e in others] + [9]
    referenced = {data.data_file(e) for e in data.episodes}
    assert {p.relative_to(tmp_path / "data").as_posix() for p in (tmp_path / "data").glob("data/*/*")} == referenced


def test_a_task_no_episode_uses_is_dropped_and_provenance_can_be_edited_in_the_same_commit(tmp_path):
    write(tmp_path / "data", [[e] for e in EPISODES], provenance={"episodes": {"3": "the only one of its task"}})
    remove_episodes(tmp_path / "data", [3], lambda provenance: provenance["episodes"].pop("3"))
    data = load_dataset(tmp_path / "data")
    assert data.tasks == list(TASKS[:2]) and data.info["robostral"] == {"episodes": {}}
    assert [data.tasks[i] for i in data.load_arrays(["task_index"])["task_index"][[0, 5, 12, 16]]] == \
        [TASKS[0], TASKS[1], TASKS[0], TASKS[1]]


def test_unknown_episodes_are_refused_and_change_nothing(tmp_path):
    write(tmp_path / "data", [EPISODES[:2]])
    before = content(tmp_path / "data")
    for indices in ([2], [-1], [], [True]):
        with pytest.raises(DatasetError, match="no episode"):
            remove_episodes(tmp_path / "data", indices)
    assert_same(content(tmp_path / "data"), before)


def test_a_crash_before_the_commit_leaves_the_dataset_whole(tmp_path, monkeypatch):
    write(tmp_path / "data", [[e] for e in EPISODES])
    before = content(tmp_path / "data")

    def crash(*args, **kwargs):
        raise KeyboardInterrupt  # killed while committing: nothing committed

    monkeypatch.setattr(remove_module, "commit", crash)
    with pytest.raises(KeyboardInterrupt):
        remove_episodes(tmp_path / "data", [1])
    assert_same(content(tmp_path / "data"), before)
    with DatasetWriter(tmp_path / "data", SPEC) as writer:  # the new files no episode refers to: deleted
        assert len([p for p in writer.removed_strays if p.startswith("data/")]) == 3
    assert len(list((tmp_path / "data").glob("data/*/*.parquet"))) == len(EPISODES)
    assert_same(content(tmp_path / "data"), before)


def test_a_crash_after_the_commit_leaves_the_dataset_without_the_episodes(tmp_path, monkeypatch):
    write(tmp_path / "data", [[e] for e in EPISODES])
    real_commit = remove_module.commit

    def commit_then_crash(*args, **kwargs):
        real_commit(*args, **kwargs)
        raise KeyboardInterrupt  # killed before the old files were deleted

    monkeypatch.setattr(remove_module, "commit", commit_then_crash)
    with pytest.raises(KeyboardInterrupt):
        remove_episodes(tmp_path / "data", [0])
    data = load_dataset(tmp_path / "data")
    assert [e["seed"] for e in data.episodes] == [1, 2, 3, 4]
    with DatasetWriter(tmp_path / "data", DatasetSpec.of(data)) as writer:  # the next writer deletes the old files
        assert len(writer.removed_strays) == 5
    assert json.loads((tmp_path / "data/meta/info.json").read_text())["total_episodes"] == 4
    assert load_dataset(tmp_path / "data").load_arrays([STATE])[STATE].shape == (20, 2 * len(PANDA.arm_joints) + 1)
