"""`robostral dataset from-bag`: a recorded run becomes a dataset `robostral train` accepts; bad bags fail clearly.

A camera recorded raw or compressed, at any resolution, gives the images the policy node would make of it (the
crop, turn and mirror of the options or of the deployment's parameter file, then the resize to --image-size).
"""

from __future__ import annotations

import dataclasses
import json

import cv2
import numpy as np
import pytest
import yaml
from builtin_interfaces.msg import Time
from conftest import tiny_train_config
from rclpy.serialization import serialize_message
from sensor_msgs.msg import CompressedImage
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
from robostral.ros.messages import TRANSPORTS, image_msg, joint_state_msg, trajectory_msg
from robostral.training.batches import ACTION, IMAGE, STATE, WRIST_IMAGE
from robostral.training.checkpoint import latest_checkpoint
from robots import load_robot
from sim.camera_input import CameraInput
from sim.env import RobotTaskEnv
from sim.experts import make_expert

T0 = 1_700_000_000_000_000_000  # ns since the epoch
MS = 1_000_000  # ns
PERIOD = 50 * MS  # 20 Hz, the sim's control rate
PANDA = load_robot("panda")
COMPRESSED_IMAGE = TRANSPORTS["compressed"].topic(CAMERA_IMAGE)
TYPES = {
    JOINT_STATES: "sensor_msgs/msg/JointState",
    CAMERA_IMAGE: "sensor_msgs/msg/Image",
    COMPRESSED_IMAGE: "sensor_msgs/msg/CompressedImage",
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


def scene(size: tuple[int, int]) -> np.ndarray:
    """The synthetic camera's view (RGB): a gradient, so that a crop, turn or mirror shows."""
    y, x = np.mgrid[0:size[0], 0:size[1]]
    return np.stack([x * 3, y * 5, 90 + x - y], axis=2).astype(np.uint8)


def synthetic_recording(folder, *, seconds=1.0, camera_hz=30, gap_after=None, encoding="rgb8", size=(8, 8),
                        names=None, skip=(), wrist_size=None, wrist_until=None, wrist_lag=0.0, raw=True,
                        compressed=False):
    """A short recording with made-up values: camera at ``camera_hz`` (``raw``, and with ``compressed`` as a PNG
    on its /compressed topic too), joints and commands at 100 Hz; with ``wrist_size``, a wrist camera of that size
    alongside, stamped ``wrist_lag`` seconds late and silent after ``wrist_until`` seconds."""
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
            image = image_msg(scene(size), stamp(int(t)))
            image.encoding = encoding
            if raw:
                write(bag, CAMERA_IMAGE, image, int(t))
            if compressed:
                png = CompressedImage(header=image.header, format="rgb8; png compressed bgr8")
                png.data = cv2.imencode(".png", scene(size)[:, :, ::-1])[1].tobytes()
                write(bag, COMPRESSED_IMAGE, png, int(t))
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
        ({"size": (6, 8), "raw": False, "compressed": True},
         "the image is 6x8, not square: configure a square crop of the camera's frame"),
        ({"wrist_size": (8, 8), "wrist_lag": 1.0}, "both controllers and a wrist camera image within 0.5 s"),
    ],
    ids=["missing topics", "wrong encoding", "not square", "other arm's joints", "compressed, not square",
         "no wrist image near any frame"],
)
def test_a_bag_that_cannot_become_a_dataset_is_refused_clearly(tmp_path, capsys, recording, error):
    synthetic_recording(tmp_path / "run", seconds=0.2, **recording)
    with pytest.raises(BagConversionError, match=error):
        from_bag(FromBagConfig(str(tmp_path / "run"), str(tmp_path / "dataset")))
    assert not (tmp_path / "dataset").exists()
    assert main(["dataset", "from-bag", str(tmp_path / "run"), "--out", str(tmp_path / "dataset")]) == 2
    assert error in capsys.readouterr().err


@pytest.mark.parametrize("spec_from", ["options", "params"])
def test_a_compressed_camera_at_any_resolution_gives_what_the_policy_sees_of_it(tmp_path, spec_from):
    synthetic_recording(tmp_path / "run", seconds=0.3, size=(48, 64), raw=False, compressed=True)
    crop = ["--camera-crop", "8", "0", "48", "48", "--camera-rotate", "90", "--camera-mirror"]
    if spec_from == "params":
        params = {"policy_node": {"ros__parameters": {"camera_crop": [8, 0, 48, 48], "camera_rotate": 90,
                                                      "camera_mirror": True, "camera_transport": "compressed"}}}
        (tmp_path / "cell.yaml").write_text(yaml.safe_dump(params))
        crop = ["--params", str(tmp_path / "cell.yaml")]
    dataset = tmp_path / "dataset"
    assert main(["dataset", "from-bag", str(tmp_path / "run"), "--out", str(dataset), "--image-size", "16", *crop]) == 0

    images = load_dataset(dataset).load_arrays([IMAGE])[IMAGE]
    expected = CameraInput(crop=(8, 0, 48, 48), rotate=90, mirror=True).apply(scene((48, 64)), 16)
    assert images.shape[1:] == (16, 16, 3) and len(images) == 6
    np.testing.assert_array_equal(images, np.broadcast_to(expected, images.shape))
    command = json.loads((dataset / "meta" / "info.json").read_text())["robostral"]["commands"][0]
    assert command.endswith("--image-size 16 --camera-crop 8 0 48 48 --camera-rotate 90 --camera-mirror")


def test_raw_frames_are_taken_before_compressed_ones_and_a_wrist_camera_of_another_size_is_resized(tmp_path,
                                                                                                   monkeypatch):
    synthetic_recording(tmp_path / "run", seconds=0.3, size=(8, 8), compressed=True, wrist_size=(4, 4))

    def unused(msg):
        raise AssertionError("a compressed frame was decoded where the raw one was recorded")

    monkeypatch.setitem(TRANSPORTS, "compressed", dataclasses.replace(TRANSPORTS["compressed"], decode=unused))
    from_bag(FromBagConfig(str(tmp_path / "run"), str(tmp_path / "dataset")))
    arrays = load_dataset(tmp_path / "dataset").load_arrays([IMAGE, WRIST_IMAGE])
    np.testing.assert_array_equal(arrays[IMAGE][0], scene((8, 8)))
    assert arrays[WRIST_IMAGE].shape[1:] == (8, 8, 3)  # the wrist camera's 4x4, resized as the policy node would
