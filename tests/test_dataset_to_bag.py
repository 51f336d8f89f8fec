"""`robostral dataset to-bag`: episodes of a dataset become a recording as the recorder writes it, which from-bag
turns back into the same episodes; a bad dataset, --out or episode index is refused before anything is written."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from robostral.cli import main
from robostral.data import load_dataset
from robostral.data.collect import CollectConfig, collect
from robostral.data.layout import ACTION, IMAGE_KEYS, STATE
from robostral.recording import read_bag
from robostral.ros import contract
from robostral.ros.to_bag import ToBagConfig, to_bag

COLUMNS = [IMAGE_KEYS["image"], IMAGE_KEYS["wrist_image"], STATE, ACTION, "task_index"]
T0 = 1_700_000_000_000_000_000  # ns since the epoch


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """A small freshly collected dataset: 3 reach episodes of about 20 frames, both cameras at 16 px."""
    root = tmp_path_factory.mktemp("to_bag") / "dataset"
    collect(CollectConfig(out=str(root), tasks=("reach",), episodes=3, workers=1, image_size=16, wrist=True),
            progress=False)
    return root


def episode_frames(data, index: int) -> dict[str, np.ndarray]:
    episode = data.episodes[index]
    rows = slice(episode["dataset_from_index"], episode["dataset_to_index"])
    arrays = data.load_arrays(COLUMNS)
    frames = {key: arrays[key][rows] for key in COLUMNS if key != "task_index"}
    return {**frames, "task": [data.tasks[i] for i in arrays["task_index"][rows]]}


def test_to_bag_then_from_bag_gives_the_same_episodes_back(dataset, tmp_path, capsys):
    bag, back = tmp_path / "bag", tmp_path / "back"
    assert main(["dataset", "to-bag", str(dataset), "--out", str(bag), "--episodes", "2,0"]) == 0
    original = load_dataset(dataset)
    frames = sum(original.episodes[i]["length"] for i in (2, 0))
    assert f"wrote 2 episodes ({frames} frames, " in capsys.readouterr().out

    assert main(["dataset", "from-bag", str(bag), "--out", str(back), "--rate", str(original.fps)]) == 0
    returned = load_dataset(back)
    assert [e["length"] for e in returned.episodes] == [original.episodes[i]["length"] for i in (2, 0)]
    # Exact, no tolerance: each frame is one tick, every round(1e9 / fps) ns as from-bag samples, so its ticks fall
    # on the frames' stamps; images go raw (rgb8) at the dataset's size, numbers as float64 (float32 widened).
    for new, old in enumerate((2, 0)):
        expected, got = episode_frames(original, old), episode_frames(returned, new)
        assert got["task"] == expected["task"]
        for key in COLUMNS[:-1]:
            np.testing.assert_array_equal(got[key], expected[key], err_msg=f"{key} of episode {old}")


def test_the_recording_holds_what_the_recorder_would_have_recorded(dataset, tmp_path):
    report = to_bag(ToBagConfig(str(dataset), str(tmp_path / "bag"), start_ns=T0), progress=False)
    data = load_dataset(dataset)
    lengths = [e["length"] for e in data.episodes]
    assert (report.episodes, report.frames, report.files) == (3, sum(lengths), ["bag_0.mcap"])

    recording = read_bag(tmp_path / "bag")
    assert recording.types == {contract.JOINT_STATES: "sensor_msgs/msg/JointState",
                               contract.CAMERA_IMAGE: "sensor_msgs/msg/Image",
                               contract.WRIST_CAMERA_IMAGE: "sensor_msgs/msg/Image",
                               contract.INSTRUCTION: "std_msgs/msg/String",
                               contract.POLICY_TRAJECTORY: "trajectory_msgs/msg/JointTrajectory",
                               contract.ARM_TRAJECTORY: "trajectory_msgs/msg/JointTrajectory",
                               contract.GRIPPER_TRAJECTORY: "trajectory_msgs/msg/JointTrajectory"}
    messages = recording.messages
    assert [m.message.data for m in messages[contract.INSTRUCTION]] == [e["tasks"][0] for e in data.episodes]
    assert {len(v) for k, v in messages.items() if k != contract.INSTRUCTION} == {sum(lengths)}

    joints, period = data.joint_names, round(1e9 / data.fps)
    first = messages[contract.CAMERA_IMAGE][0]
    assert first.log_time == T0 and (first.message.header.stamp.sec, first.message.encoding) == (T0 // 10**9, "rgb8")
    assert np.diff([m.log_time for m in messages[contract.JOINT_STATES][:lengths[0]]]).tolist() == [period] * (
        lengths[0] - 1)
    assert list(messages[contract.JOINT_STATES][0].message.name) == joints
    assert list(messages[contract.ARM_TRAJECTORY][0].message.joint_names) == joints[:-1]
    assert list(messages[contract.GRIPPER_TRAJECTORY][0].message.joint_names) == joints[-1:]
    np.testing.assert_array_equal(messages[contract.POLICY_TRAJECTORY][0].message.points[0].positions,
                                  data.load_arrays([ACTION])[ACTION][0])
    assert messages[contract.ARM_TRAJECTORY][0].log_time == T0 + period // 2  # the command comes after its frame

    # rosbag2's metadata, each topic with the QoS its publisher offers on the cell
    metadata = yaml.safe_load((tmp_path / "bag" / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    qos = {t["topic_metadata"]["name"]: yaml.safe_load(t["topic_metadata"]["offered_qos_profiles"])[0]
           for t in metadata["topics_with_message_count"]}
    assert metadata["relative_file_paths"] == ["bag_0.mcap"] and metadata["storage_identifier"] == "mcap"
    assert qos[contract.INSTRUCTION]["durability"] == "transient_local"
    assert qos[contract.CAMERA_IMAGE]["reliability"] == "best_effort"


def test_force_replaces_a_recording_and_nothing_else(dataset, tmp_path, capsys):
    bag = tmp_path / "bag"
    assert main(["dataset", "to-bag", str(dataset), "--out", str(bag), "--episodes", "0"]) == 0
    assert main(["dataset", "to-bag", str(dataset), "--out", str(bag), "--episodes", "1,2"]) == 2
    assert f"{bag} already exists; choose another --out, or --force" in capsys.readouterr().err
    assert main(["dataset", "to-bag", str(dataset), "--out", str(bag), "--episodes", "1,2", "--force"]) == 0
    assert len(read_bag(bag).messages[contract.INSTRUCTION]) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bag"]  # no staging folder left beside it

    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("keep me")
    assert main(["dataset", "to-bag", str(dataset), "--out", str(tmp_path / "notes"), "--force"]) == 2
    assert "holds more than a recording (todo.txt)" in capsys.readouterr().err
    assert (tmp_path / "notes" / "todo.txt").read_text() == "keep me"


@pytest.mark.parametrize(
    "source, episodes, error",
    [
        ("empty", None, "meta/info.json: missing (not a complete LeRobot v3.0 dataset)"),
        ("missing", None, "no such dataset directory"),
        ("dataset", "0,7", "no episode 7 in {dataset}: it has 3 (indices 0-2)"),
        ("dataset", "1,1", "episodes must be distinct, got [1, 1]"),
    ],
    ids=["not a dataset", "no such path", "episode out of range", "an episode twice"],
)
def test_what_cannot_be_converted_is_refused_before_anything_is_written(dataset, tmp_path, capsys, source, episodes,
                                                                        error):
    folders = {"dataset": dataset, "empty": tmp_path / "empty", "missing": tmp_path / "missing"}
    folders["empty"].mkdir()
    args = ["dataset", "to-bag", str(folders[source]), "--out", str(tmp_path / "bag")]
    assert main(args + (["--episodes", episodes] if episodes else [])) == 2
    assert error.format(dataset=dataset) in capsys.readouterr().err
    assert not (tmp_path / "bag").exists()


@pytest.mark.parametrize("text", ["0,x", "-1", ""])
def test_episodes_must_be_indices(dataset, tmp_path, text, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["dataset", "to-bag", str(dataset), "--out", str(tmp_path / "bag"), "--episodes", text])
    assert exit_.value.code == 2 and "--episodes" in capsys.readouterr().err
