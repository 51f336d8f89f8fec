"""Turn episodes of a dataset into a recording, as the recorder would have made of them: from-bag's inverse.

The recording is what ``robostral-recorder`` writes (MCAP files in the rosbag2 layout, ``robostral.recording``), so
``ros2 bag play``, ``ros2 bag info`` and Foxglove open it, and ``robostral dataset from-bag`` (with ``--rate`` the
dataset's fps and ``--robot`` its arm) reads every episode back, frame for frame. Each frame t of an episode is one
control tick, every 1/fps s, and goes out as the nodes publish it (``robostral.ros.messages``, the QoS of
``robostral.ros.contract``):

- at t: ``/joint_states`` (the state's arm positions and velocities and the gripper position, the dataset's joints
  in its action order, the gripper's velocity 0: the state holds none), then ``/wrist_camera/image_raw`` where the
  dataset has a wrist camera, then ``/camera/image_raw`` (rgb8, lossless), all stamped t;
- half a tick later: the action, as the policy sends it (``/robostral/policy/joint_trajectory``, every joint, stamped
  t, as the policy node stamps a command with its observation) and as the supervisor passes it on
  (``/arm_controller/joint_trajectory`` and ``/gripper_controller/joint_trajectory``, the gripper's driving joint,
  unstamped: start at once): one point each, 1/fps from the start (the target held until the next frame);
- ``/robostral/instruction`` (the frame's task) half a tick before an episode's first frame, and again before a
  frame whose task differs from the one before: each instruction published starts an episode, for from-bag as for
  the policy. Episodes follow one another after ``EPISODE_GAP`` seconds without messages (a scene being reset).

Log time (when the recorder received a message) is its publish time: a recording made on a graph without delays.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rclpy.serialization import serialize_message
from rclpy.time import Time
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import String
from tqdm import tqdm
from trajectory_msgs.msg import JointTrajectory

from robostral.data import Dataset, load_dataset
from robostral.data.layout import ACTION, IMAGE_KEYS, STATE
from robostral.recording.bag_writer import COMPRESSIONS, METADATA_NAME, BagConfig, BagWriter
from robostral.ros import contract
from robostral.ros.messages import image_msg, joint_state_msg, trajectory_msg
from robostral.ros.recorder import message_type_name, qos_profiles_yaml
from sim.proprio import proprio_joints

# Each topic a recording of the cell holds that a dataset can fill: its message type, the QoS its publisher offers.
TOPICS = {
    contract.JOINT_STATES: (JointState, contract.JOINT_STATES_QOS),
    contract.WRIST_CAMERA_IMAGE: (Image, contract.IMAGE_QOS),  # only for a dataset with wrist camera images
    contract.CAMERA_IMAGE: (Image, contract.IMAGE_QOS),
    contract.INSTRUCTION: (String, contract.LATCHED_QOS),
    contract.POLICY_TRAJECTORY: (JointTrajectory, contract.POLICY_TRAJECTORY_QOS),
    contract.ARM_TRAJECTORY: (JointTrajectory, contract.CONTROLLER_QOS),
    contract.GRIPPER_TRAJECTORY: (JointTrajectory, contract.CONTROLLER_QOS),
}
CAMERAS = {contract.WRIST_CAMERA_IMAGE: IMAGE_KEYS["wrist_image"], contract.CAMERA_IMAGE: IMAGE_KEYS["image"]}
EPISODE_GAP = 1.0  # s between one episode's last frame and the next one's instruction: more than from-bag's max_gap


class ToBagError(ValueError):
    """A conversion refused before anything is written; the message says why and what to do."""


@dataclass(frozen=True)
class ToBagConfig:
    """One ``robostral dataset to-bag`` run."""

    dataset: str  # dataset directory (robostral collect's layout)
    out: str  # recording folder to write; its files are named after it (OUT_0.mcap)
    episodes: tuple[int, ...] | None = None  # episode indices, written in this order; None: every episode
    force: bool = False  # replace a recording already at ``out``
    start_ns: int | None = None  # the first frame's stamp [ns since the epoch]; None: the time of conversion
    compression: str = "zstd"  # of the MCAP chunks: zstd, lz4 or none

    def __post_init__(self) -> None:
        if self.episodes is not None:
            if not self.episodes or min(self.episodes) < 0:
                raise ValueError(f"episodes must be indices >= 0, at least one, got {list(self.episodes)}")
            if len(set(self.episodes)) != len(self.episodes):
                raise ValueError(f"episodes must be distinct, got {list(self.episodes)}")
        if self.start_ns is not None and self.start_ns <= 0:
            raise ValueError(f"start_ns must be > 0 ns since the epoch, got {self.start_ns}")
        if self.compression not in COMPRESSIONS:
            raise ValueError(f"compression must be one of {', '.join(COMPRESSIONS)}, got {self.compression!r}")


@dataclass(frozen=True)
class ToBagReport:
    episodes: int  # written
    frames: int  # written
    seconds: float  # from the first message to the last
    fps: int  # the dataset's: from-bag's --rate to read it back
    files: list[str]  # the recording's MCAP files


def to_bag(config: ToBagConfig, progress: bool = True) -> ToBagReport:
    """Write the chosen episodes of ``config.dataset`` as a recording at ``config.out``.

    The recording is written beside ``out`` and moved there once complete: a failed or interrupted conversion
    leaves no half recording (and ``--force`` replaces the old one only then).
    """
    out = Path(config.out)
    check_out(out, config.force)
    dataset = load_dataset(config.dataset)
    chosen = chosen_episodes(dataset, config.episodes)
    frames = sum(dataset.episodes[i]["length"] for i in chosen)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{out.name}.", dir=out.parent) as staging:
        folder = Path(staging) / out.name
        with BagWriter(BagConfig(str(folder), compression=config.compression)) as bag, \
                tqdm(total=frames, desc=f"to-bag {out.name}", unit="frame", disable=not progress) as bar:
            writer = _EpisodeWriter(bag, dataset)
            start = time.time_ns() if config.start_ns is None else config.start_ns
            for index in chosen:
                start = writer.write(index, start, bar.update) + round(EPISODE_GAP * 1e9)
            seconds = writer.last / 1e9 - writer.first / 1e9
        if out.exists():  # --force, checked above
            shutil.rmtree(out)
        os.replace(folder, out)
    return ToBagReport(len(chosen), frames, seconds, dataset.fps, [path.name for path in bag.files])


def check_out(out: Path, force: bool) -> None:
    """Refuse an ``out`` that exists, unless ``force`` and it holds a recording (MCAP files and metadata.yaml) only."""
    if not out.exists():
        return
    if not force:
        raise ToBagError(f"{out} already exists; choose another --out, or --force to replace the recording there")
    if not out.is_dir():
        raise ToBagError(f"{out} is a file, not a recording folder; --force replaces a recording only")
    others = sorted(p.name for p in out.iterdir() if p.suffix != ".mcap" and p.name != METADATA_NAME)
    if others:
        raise ToBagError(f"{out} holds more than a recording ({', '.join(others[:3])}); --force replaces a "
                         "recording folder (MCAP files and metadata.yaml) only")


def chosen_episodes(dataset: Dataset, episodes: tuple[int, ...] | None) -> list[int]:
    """``episodes`` (every one where None), each checked to be in ``dataset``."""
    total = len(dataset.episodes)
    if episodes is None:
        if not total:
            raise ToBagError(f"{dataset.root} has no episodes to write")
        return list(range(total))
    outside = [i for i in episodes if i >= total]
    if outside:
        have = f"0-{total - 1}" if total else "none"
        raise ToBagError(f"no episode {', '.join(map(str, outside))} in {dataset.root}: it has {total} "
                         f"(indices {have})")
    return list(episodes)


class _EpisodeWriter:
    """Writes episodes of one dataset into one recording, one tick per frame (see the module docstring)."""

    def __init__(self, bag: BagWriter, dataset: Dataset) -> None:
        self.bag, self.dataset = bag, dataset
        self.joints = dataset.joint_names  # the arm's then the gripper's driving joint: the action's order
        self.period = round(1e9 / dataset.fps)  # ns, as from-bag rounds it: its ticks fall on the frames
        self.cameras = {topic: key for topic, key in CAMERAS.items() if key in dataset.features}
        self.columns = dataset.load_arrays([STATE, ACTION, "task_index"])
        self.first: int | None = None
        self.last = 0
        topics = [t for t in TOPICS if t not in CAMERAS or t in self.cameras]
        for topic in topics:
            message, qos = TOPICS[topic]
            bag.add_topic(topic, message_type_name(message), qos_profiles_yaml([qos]))

    def write(self, index: int, start: int, advance: Callable[[int], object]) -> int:
        """Write episode ``index``, its first frame at ``start`` [ns]; ``advance(1)`` after each frame; the time of
        its last message."""
        episode = self.dataset.episodes[index]
        rows = range(episode["dataset_from_index"], episode["dataset_to_index"])
        images = {topic: self.dataset.image_frames(key, index) for topic, key in self.cameras.items()}
        half = self.period // 2
        task = None
        for frame, row in enumerate(rows):
            t = start + frame * self.period
            stamp = Time(nanoseconds=t).to_msg()
            if self.columns["task_index"][row] != task:
                task = self.columns["task_index"][row]
                self._write(contract.INSTRUCTION, String(data=self.dataset.tasks[task]), t - half)
            positions, velocities = proprio_joints(self.columns[STATE][row])
            self._write(contract.JOINT_STATES, joint_state_msg(self.joints, positions, velocities, stamp), t)
            for topic, frames in images.items():
                self._write(topic, image_msg(next(frames)[1], stamp), t)
            action = self.columns[ACTION][row].astype(np.float64)
            held = [1 / self.dataset.fps]  # s from the start: the target held until the next frame
            self._write(contract.POLICY_TRAJECTORY, trajectory_msg(self.joints, action, held, stamp), t + half)
            self._write(contract.ARM_TRAJECTORY, trajectory_msg(self.joints[:-1], action[:-1], held), t + half)
            self._write(contract.GRIPPER_TRAJECTORY, trajectory_msg(self.joints[-1:], action[-1:], held), t + half)
            advance(1)
        return self.last

    def _write(self, topic: str, message, log_time: int) -> None:
        self.bag.write(topic, serialize_message(message), log_time)
        self.first = log_time if self.first is None else self.first
        self.last = log_time
