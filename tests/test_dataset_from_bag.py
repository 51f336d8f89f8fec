"""`robostral dataset from-bag`: a recorded run becomes a dataset `robostral train` accepts; bad bags fail clearly."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import yaml
from builtin_interfaces.msg import Time
from conftest import tiny_train_config
from rclpy.serialization import serialize_message
from std_msgs.msg import String

from robostral.cli import main
from robostral.data import load_dataset
from robostral.recording import BagConfig, BagWriter
from robostral.ros.contract import (
    ARM_TRAJECTORY,
    CAMERA_IMAGE,
    GRIPPER_TRAJECTORY,
    INSTRUCTION,
    JOINT_STATES,
    WRIST_CAMERA_IMAGE,
)
from robostral.ros.from_bag import BagConversionError, FromBagConfig, from_bag
from robostral.ros.messages import image_msg, joint_state_msg, trajectory_msg
from robostral.training.batches import ACTION, IMAGE, STATE, WRIST_IMAGE
from robostral.training.checkpoint import latest_checkpoint
from robots import load_robot
from sim.env import RobotTaskEnv
from sim.experts import make_expert

T0 = 1_700_000_000_000_000_000  # ns since the epoch
MS = 1_000_000  # ns
PERIOD = 50 * MS  # 20 Hz, the sim's control rate
PANDA = load_robot("panda")
TYPES = {
    JOINT_STATES: "sensor_msgs/msg/JointState",
    CAMERA_IMAGE: "sensor_msgs/msg/Image",
    WRIST_CAMERA_IMAGE: "sensor_msgs/msg/Image",
    INSTRUCTION: "std_msgs/msg/String",
    ARM_TRAJECTORY: "trajectory_msgs/msg/JointTrajectory",
    GRIPPER_TRAJECTORY: "trajectory_msgs/msg/JointTrajectory",
}


def stamp(t: int) -> Time:
    return Time(sec=t // 10**9, nanosec=t % 10**9)


def joint_state_message(proprio: np.ndarray, t: int, names=None):
    """The driver's view of the sim's proprio: every joint, fingers included, in ros2_control's (unsorted) order."""
    n = len(PANDA.arm_joints)
    names = names or [*PANDA.arm_joints, *PANDA.gripper.joints]
    position = {**dict(zip(PANDA.arm_joints, proprio[:n])), **dict.fromkeys(PANDA.gripper.joints, proprio[-1])}
    velocity = {**dict(zip(PANDA.arm_joints, proprio[n:2 * n])), **dict.fromkeys(PANDA.gripper.joints, 0.0)}
    order = names[::-1]
    return joint_state_msg(order, [position.get(j, 0.0) for j in order], [velocity.get(j, 0.0) for j in order],
                           stamp(t))


def trajectory(joints, positions):
    return trajectory_msg(joints, np.asarray(positions), [PERIOD / 1e9])


def open_bag(folder) -> BagWriter:
    bag = BagWriter(BagConfig(str(folder)))
    for topic, type_name in TYPES.items():
        bag.add_topic(topic, type_name)
    return bag


def write(bag: BagWriter, topic: str, message, log_time: int) -> None:
    bag.write(topic, serialize_message(message), log_time)


def sim_recording(folder, episodes=((0, 22), (1, 18)), wrist: bool = False) -> list[dict]:
    """What the recorder would hold after the expert ran pick_place on the sim arm, one episode per (seed, steps).

    Per tick: the camera and the driver stamp their messages at the tick (joint states 2 ms
    earlier), the recorder receives them 1 ms later, and the commands chosen from them arrive
    10 ms after the tick. Each episode begins with the operator's instruction. ``wrist``: the
    wrist camera too, stamped as the front camera.
    """
    env = RobotTaskEnv("pick_place", "panda", image_size=32, wrist_camera=wrist)
    expected, t = [], T0
    with open_bag(folder) as bag:
        for seed, steps in episodes:
            observation, _ = env.reset(seed=seed)
            expert = make_expert(env)
            expert.reset()
            write(bag, INSTRUCTION, String(data=env.instruction), t - 5 * MS)
            record = {"instruction": env.instruction, "images": [], "wrist": [], "state": [], "action": []}
            for _ in range(steps):
                write(bag, CAMERA_IMAGE, image_msg(observation["image"], stamp(t)), t + MS)
                if wrist:
                    write(bag, WRIST_CAMERA_IMAGE, image_msg(observation["wrist_image"], stamp(t)), t + MS)
                    record["wrist"].append(observation["wrist_image"])
                write(bag, JOINT_STATES, joint_state_message(observation["proprio"], t - 2 * MS), t + MS)
                action = expert.act()
                write(bag, ARM_TRAJECTORY, trajectory(PANDA.arm_joints, action[:-1]), t + 10 * MS)
                write(bag, GRIPPER_TRAJECTORY, trajectory(PANDA.gripper.joints, [action[-1]] * 2), t + 10 * MS)
                record["images"].append(observation["image"])
                record["state"].append(observation["proprio"])
                record["action"].append(action.astype(np.float32))  # as collect stores it
                observation, *_ = env.step(action)
                t += PERIOD
            expected.append(record)
    env.close()
    return expected


def test_a_recorded_run_becomes_a_dataset_that_robostral_train_accepts(tmp_path, capsys):
    expected = sim_recording(tmp_path / "run")
    dataset = tmp_path / "dataset"
    assert main(["dataset", "from-bag", str(tmp_path / "run"), "--out", str(dataset), "--robot", "panda"]) == 0
    assert "added 2 episodes (40 frames)" in capsys.readouterr().out

    data = load_dataset(dataset)
    assert (data.fps, data.robot, list(data.joint_names)) == (20, "panda", list(PANDA.joint_names))
    assert set(data.tasks) == {e["instruction"] for e in expected}
    assert [e["length"] for e in data.episodes] == [22, 18]
    arrays = data.load_arrays(["observation.images.front", STATE, ACTION, "task_index"])
    for name, key in (("images", "observation.images.front"), ("state", STATE), ("action", ACTION)):
        np.testing.assert_array_equal(arrays[key], np.concatenate([np.stack(e[name]) for e in expected]))
    assert [data.tasks[i] for i in arrays["task_index"][[0, 22]]] == [e["instruction"] for e in expected]

    config = tiny_train_config(dataset, tmp_path / "train", steps=4, log_every=2, eval_every=4, checkpoint_every=4,
                               val_fraction=0.5)
    config_file = tmp_path / "train.yaml"
    config_file.write_text(yaml.safe_dump(json.loads(json.dumps(dataclasses.asdict(config)))))
    assert main(["train", "--config", str(config_file)]) == 0
    assert latest_checkpoint(tmp_path / "train").name == "step-0000004"

    # converting the same recording again would duplicate its episodes: refused, the dataset unchanged
    with pytest.raises(BagConversionError, match="already holds the episodes of run"):
        from_bag(FromBagConfig(str(tmp_path / "run"), str(dataset)))
    assert load_dataset(dataset).num_frames == 40


def test_a_recording_with_a_wrist_camera_gives_the_dataset_its_images(tmp_path):
    expected = sim_recording(tmp_path / "run", episodes=((0, 12),), wrist=True)
    from_bag(FromBagConfig(str(tmp_path / "run"), str(tmp_path / "dataset")))
    data = load_dataset(tmp_path / "dataset")
    arrays = data.load_arrays([IMAGE, WRIST_IMAGE])
    np.testing.assert_array_equal(arrays[WRIST_IMAGE], np.stack(expected[0]["wrist"]))
    np.testing.assert_array_equal(arrays[IMAGE], np.stack(expected[0]["images"]))
    assert not np.array_equal(arrays[WRIST_IMAGE], arrays[IMAGE])


def synthetic_recording(folder, *, seconds=1.0, camera_hz=30, gap_after=None, encoding="rgb8", size=(8, 8),
                        names=None, skip=(), wrist_size=None, wrist_until=None, wrist_lag=0.0):
    """A short recording with made-up values: camera at ``camera_hz``, joints and commands at 100 Hz;
    with ``wrist_size``, a wrist camera of that size alongside, stamped ``wrist_lag`` seconds late
    and silent after ``wrist_until`` seconds."""
    with open_bag(folder) as bag:
        if INSTRUCTION not in skip:
            write(bag, INSTRUCTION, String(data="hold still"), T0 - MS)
        for k in range(int(seconds * 100)):
            t = T0 + k * 10 * MS
            proprio = np.full(2 * len(PANDA.arm_joints) + 1, k / 100, dtype=np.float32)
            write(bag, JOINT_STATES, joint_state_message(proprio, t, names), t)
            for topic, joints in ((ARM_TRAJECTORY, PANDA.arm_joints), (GRIPPER_TRAJECTORY, PANDA.gripper.joints[:1])):
                if topic not in skip:
                    write(bag, topic, trajectory(joints, [k] * len(joints)), t)
        camera = np.arange(T0, T0 + int(seconds * 1e9), int(1e9 / camera_hz))
        if gap_after is not None:  # no image for 0.6 s
            camera = camera[(camera < T0 + gap_after * 1e9) | (camera >= T0 + (gap_after + 0.6) * 1e9)]
        for t in camera:
            image = image_msg(np.full((*size, 3), 7, dtype=np.uint8), stamp(int(t)))
            image.encoding = encoding
            write(bag, CAMERA_IMAGE, image, int(t))
            if wrist_size is not None and (wrist_until is None or t < T0 + wrist_until * 1e9):
                wrist = image_msg(np.zeros((*wrist_size, 3), np.uint8), stamp(int(t + wrist_lag * 1e9)))
                write(bag, WRIST_CAMERA_IMAGE, wrist, int(t))


def test_frames_are_sampled_at_the_control_rate_and_a_gap_ends_an_episode(tmp_path):
    synthetic_recording(tmp_path / "run", seconds=2.0, camera_hz=30, gap_after=0.8)
    report = from_bag(FromBagConfig(str(tmp_path / "run"), str(tmp_path / "dataset"), rate=20))
    data = load_dataset(tmp_path / "dataset")
    lengths = [e["length"] for e in data.episodes]
    assert report.episodes == 2 and len(lengths) == 2
    assert abs(lengths[0] - 0.8 * 20) <= 1 and abs(lengths[1] - 0.6 * 20) <= 1, lengths
    state = data.load_arrays([STATE])[STATE]
    assert np.all(np.diff(state[: lengths[0], 0]) > 0.03)  # one frame every 50 ms of joint states (+0.01 per 10 ms)


def test_frames_without_a_wrist_image_within_max_gap_are_left_out(tmp_path):
    synthetic_recording(tmp_path / "run", seconds=2.0, camera_hz=30, wrist_size=(8, 8), wrist_until=0.5)
    report = from_bag(FromBagConfig(str(tmp_path / "run"), str(tmp_path / "dataset"), rate=20, max_gap=0.5))
    data = load_dataset(tmp_path / "dataset")
    assert report.episodes == 1 and WRIST_IMAGE in data.features
    assert abs(data.num_frames - 1.0 * 20) <= 1, data.num_frames  # the last wrist image (0.47 s) + 0.5 s


def test_a_recording_cut_by_a_kill_converts_what_it_holds(tmp_path, capsys):
    synthetic_recording(tmp_path / "run", seconds=0.5)
    (path,) = (tmp_path / "run").glob("*.mcap")
    with open(path, "r+b") as handle:  # the summary is gone, as after a kill
        handle.truncate(path.stat().st_size - 100)
    assert main(["dataset", "from-bag", str(tmp_path / "run"), "--out", str(tmp_path / "dataset")]) == 0
    output = capsys.readouterr()
    assert "run_0.mcap ended early" in output.out and "UserWarning" not in output.err
    assert load_dataset(tmp_path / "dataset").num_frames == 10


@pytest.mark.parametrize(
    "recording, error",
    [
        ({"skip": (INSTRUCTION, GRIPPER_TRAJECTORY)}, f"no messages on {INSTRUCTION}, {GRIPPER_TRAJECTORY}"),
        ({"encoding": "mono8"}, "image encoding is 'mono8'; a policy takes colour"),
        ({"size": (6, 8)}, "image is 6x8, not square"),
        ({"names": [f"joint{i}" for i in range(1, 7)]}, "lacks panda_joint1, "),
        ({"wrist_size": (4, 4)}, "the wrist camera's images are not 8x8 like the front camera's"),
        ({"wrist_size": (8, 8), "wrist_lag": 1.0}, "both controllers and a wrist camera image within 0.5 s"),
    ],
    ids=["missing topics", "wrong encoding", "not square", "other arm's joints", "wrist camera of another size",
         "no wrist image near any frame"],
)
def test_a_bag_that_cannot_become_a_dataset_is_refused_clearly(tmp_path, capsys, recording, error):
    synthetic_recording(tmp_path / "run", seconds=0.2, **recording)
    with pytest.raises(BagConversionError, match=error):
        from_bag(FromBagConfig(str(tmp_path / "run"), str(tmp_path / "dataset")))
    assert not (tmp_path / "dataset").exists()
    assert main(["dataset", "from-bag", str(tmp_path / "run"), "--out", str(tmp_path / "dataset")]) == 2
    assert error in capsys.readouterr().err
