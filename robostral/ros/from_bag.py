"""Turn recordings of the arm into demonstrations in the dataset layout `robostral collect` writes: the data flywheel.

A recording holds the camera (``/camera/image_raw``, any colour encoding, or JPEG or PNG on
``/camera/image_raw/compressed`` where no raw frames were recorded), the joints (``/joint_states``),
the operator's instruction (``/robostral/instruction``) and the commands the safety
supervisor sent to the controllers (``/arm_controller/joint_trajectory``,
``/gripper_controller/joint_trajectory``). It becomes frames like the simulator's:

- frames are sampled at the control rate, on the camera's clock: ticks every 1/rate s from
  the first image of a stretch of images, each tick taking the image nearest to it;
- observation.state = arm joint positions [rad], arm velocities [rad/s] (zero where the
  driver reports none), gripper position: the sim's proprio, from the joint state nearest
  to the image stamp, joints found by name in the robot's order (its description, ``robots``);
- action = the command in force during the tick: the first point of the latest arm and
  gripper commands received before the next tick (the sim's action t is the target held
  from observation t to t+1), arm joints then the gripper's driving joint;
- task = the latest instruction. Each instruction published starts an episode, and so
  does a gap of more than ``max_gap`` seconds without images. Frames before the first
  instruction or the first commands have no task or action and are left out;
- a recording that holds a wrist camera (``/wrist_camera/image_raw``, or its ``/compressed``) gives
  every frame the wrist image nearest to the tick as well (frames with none within ``max_gap`` are left out);
- each image is what the policy node makes of it: the camera's ``CameraInput`` (crop, turn, mirror:
  the policy node's ``camera_*`` and ``wrist_camera_*`` parameters), then an area resize to
  ``image_size`` (default: the side of the front camera's square, unresized), at any resolution.

Header stamps pair images with joint states (both from the driver's clock); receive times
(the recorder's clock) pair them with instructions and commands, which carry no stamp.
Messages are read with the same converters as the live nodes (``robostral.ros.messages``),
so a state in the dataset is what the policy node would have seen.
Real episodes have no seed and no success signal: ``seed`` is the episode's number in
its recording, ``sim_task`` is ``recording:<folder name>``, and, as in every dataset,
each episode kept is a demonstration (``success`` true).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

import numpy as np

from robostral.data import DatasetSpec, DatasetWriter, Episode
from robostral.data.layout import IMAGE_KEYS
from robostral.recording.bag_reader import BagMessage, Recording, RecordingError, read_bag
from robostral.ros.contract import (
    ARM_TRAJECTORY,
    CAMERA_IMAGE,
    GRIPPER_TRAJECTORY,
    INSTRUCTION,
    JOINT_STATES,
    WRIST_CAMERA_IMAGE,
)
from robostral.ros.messages import TRANSPORTS, Transport, joint_state_from_msg, trajectory_from_msg
from robots import DEFAULT_ROBOT, RobotDescription, load_robot
from sim.camera_input import CameraInput
from sim.proprio import proprio_state

# What frames need (the camera raw or compressed); the wrist camera is optional.
DATASET_TOPICS = (JOINT_STATES, CAMERA_IMAGE, INSTRUCTION, ARM_TRAJECTORY, GRIPPER_TRAJECTORY)
CAMERAS = {CAMERA_IMAGE: "camera", WRIST_CAMERA_IMAGE: "wrist_camera"}  # base topic -> its FromBagConfig field
RECORDED_TOPICS = (*DATASET_TOPICS, *(t.topic(base) for base in CAMERAS for t in TRANSPORTS.values()))


class BagConversionError(RecordingError):
    """A recording that cannot become a dataset; the message names what is missing or wrong."""


@dataclass(frozen=True)
class FromBagConfig:
    """One ``robostral dataset from-bag`` run."""

    bag: str  # recording folder
    out: str  # dataset directory: created, or appended to
    robot: str = DEFAULT_ROBOT  # which arm the recording is of (joint names and order)
    rate: int = 20  # frames per second: the control rate [Hz]
    max_gap: float = 0.5  # seconds without a camera image that end an episode
    camera: CameraInput = field(default_factory=CameraInput)  # what the policy sees of the front camera
    wrist_camera: CameraInput = field(default_factory=CameraInput)  # and of the wrist camera
    image_size: int | None = None  # the images' side [px], the policy's input; None: the front camera's square's

    def __post_init__(self) -> None:
        load_robot(self.robot)  # a clear error for an unknown arm or a bad description
        if self.rate <= 0:
            raise ValueError(f"rate must be > 0 Hz, got {self.rate}")
        if not self.max_gap > 0:
            raise ValueError(f"max_gap must be > 0 s, got {self.max_gap}")
        if self.image_size is not None and self.image_size <= 0:
            raise ValueError(f"image_size must be > 0 px, got {self.image_size}")

    @property
    def command(self) -> str:
        """The command line that makes exactly this conversion."""
        words = ["robostral", "dataset", "from-bag", self.bag, "--out", self.out, "--robot", self.robot,
                 "--rate", str(self.rate), "--max-gap", str(self.max_gap)]
        words += ["--image-size", str(self.image_size)] if self.image_size else []
        for name in CAMERAS.values():
            words += _camera_options(name.replace("_", "-"), getattr(self, name))
        return shlex.join(words)


def _camera_options(camera: str, spec: CameraInput) -> list[str]:
    """The options ``--camera-crop X Y W H`` (``--wrist-camera-...``), ``-rotate``, ``-mirror`` that give ``spec``."""
    words = [f"--{camera}-crop", *map(str, spec.crop)] if spec.crop else []
    words += [f"--{camera}-rotate", str(spec.rotate)] if spec.rotate else []
    return words + ([f"--{camera}-mirror"] if spec.mirror else [])


@dataclass(frozen=True)
class FromBagReport:
    episodes: int  # added by this conversion
    frames: int  # added by this conversion
    total_episodes: int  # in the dataset afterwards
    truncated: list[str]  # recording files that ended early (a killed recorder), read up to their last chunk


def from_bag(config: FromBagConfig) -> FromBagReport:
    """Convert the recording ``config.bag`` and append its episodes to the dataset ``config.out``."""
    recording = read_bag(config.bag, RECORDED_TOPICS)
    robot = load_robot(config.robot)
    episodes = recording_episodes(recording, robot, config)
    size = episodes[0].image_shape[0]
    wrist = IMAGE_KEYS["wrist_image"] in episodes[0].png
    dataset = DatasetSpec(robot.name, robot.joint_names, config.rate, size, wrist=wrist)
    with DatasetWriter(config.out, dataset) as writer:
        if any((e.sim_task, e.seed) in writer.keys for e in episodes):
            raise BagConversionError(f"{config.out} already holds the episodes of {recording.folder.name}")
        commands = writer.provenance.setdefault("commands", [])
        if config.command not in commands:
            commands.append(config.command)
        for episode in episodes:
            writer.add(episode)
        writer.flush()
        total = writer.info["total_episodes"]
    return FromBagReport(len(episodes), sum(e.length for e in episodes), total, recording.truncated)


def recording_episodes(recording: Recording, robot: RobotDescription, config: FromBagConfig) -> list[Episode]:
    """The recording's episodes, encoded for the dataset (see the module docstring for how frames are made)."""
    rate, max_gap = config.rate, config.max_gap
    camera, wrist_camera = (_Camera.recorded(recording, base, getattr(config, name)) for base, name in CAMERAS.items())
    missing = [t for t in DATASET_TOPICS if not (camera if t == CAMERA_IMAGE else recording.messages.get(t))]
    if missing:
        have = ", ".join(sorted(recording.messages)) or "none"
        raise BagConversionError(f"{recording.folder}: no messages on {', '.join(missing)} (topics recorded: {have}); "
                                 f"a dataset needs {', '.join(DATASET_TOPICS)} (the camera's raw or compressed)")
    size = config.image_size or camera.image(0).shape[0]
    images = camera.frames
    image_stamps = np.array([_stamp(m.message) for m in images], dtype=np.int64)
    image_logs = np.array([m.log_time for m in images], dtype=np.int64)
    state_stamps, states = _joint_states(recording.messages[JOINT_STATES], robot)
    arm_logs, arm = _commands(recording.messages[ARM_TRAJECTORY], robot.arm_joints, ARM_TRAJECTORY)
    gripper_logs, gripper = _commands(recording.messages[GRIPPER_TRAJECTORY], (robot.gripper.drive,),
                                      GRIPPER_TRAJECTORY)
    instructions = recording.messages[INSTRUCTION]
    instruction_logs = np.array([m.log_time for m in instructions], dtype=np.int64)

    period = round(1e9 / rate)  # ns
    stretch, ticks, image = _ticks(image_stamps, period, max_gap * 1e9)
    tick_logs = image_logs[image] + (ticks - image_stamps[image])  # each tick on the recorder's clock
    instruction = _latest(instruction_logs, tick_logs)
    arm_index = _latest(arm_logs, tick_logs + period)
    gripper_index = _latest(gripper_logs, tick_logs + period)
    state = _nearest(state_stamps, ticks)
    usable = (instruction >= 0) & (arm_index >= 0) & (gripper_index >= 0)
    if wrist_camera:
        wrist_stamps = np.array([_stamp(m.message) for m in wrist_camera.frames], dtype=np.int64)
        wrist = _nearest(wrist_stamps, ticks)
        usable &= np.abs(wrist_stamps[wrist] - ticks) <= max_gap * 1e9
    kept = np.flatnonzero(usable)
    if not len(kept):
        wrist_needed = f" and a wrist camera image within {max_gap} s" if wrist_camera else ""
        raise BagConversionError(f"{recording.folder}: no camera frame comes after both an instruction and commands "
                                 f"to both controllers{wrist_needed}; nothing to learn from")

    episodes = []
    key = stretch[kept] * (len(instructions) + 1) + instruction[kept]  # (stretch, instruction) of each frame
    for frames in np.split(kept, np.flatnonzero(np.diff(key)) + 1):
        cameras = {IMAGE_KEYS["image"]: np.stack([camera.image(i, size) for i in image[frames]])}
        if wrist_camera:
            cameras[IMAGE_KEYS["wrist_image"]] = np.stack([wrist_camera.image(i, size) for i in wrist[frames]])
        episodes.append(Episode.encode(
            sim_task=f"recording:{recording.folder.name}",
            seed=len(episodes),
            robot=robot.name,
            instruction=instructions[instruction[frames[0]]].message.data,
            success=True,
            images=cameras,
            state=states[state[frames]],
            action=np.concatenate([arm[arm_index[frames]], gripper[gripper_index[frames]]], axis=1),
        ))
    return episodes


# -- sampling ------------------------------------------------------------------------------------
def _ticks(stamps: np.ndarray, period: int, max_gap: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(stretch number, tick time, nearest image) of every tick [ns]; a stretch of images ends at a gap > max_gap."""
    stretches, ticks, images = [], [], []
    for number, run in enumerate(np.split(np.arange(len(stamps)), np.flatnonzero(np.diff(stamps) > max_gap) + 1)):
        start, end = stamps[run[0]], stamps[run[-1]]
        times = start + np.arange((end - start) // period + 1, dtype=np.int64) * period
        stretches.append(np.full(len(times), number))
        ticks.append(times)
        images.append(run[0] + _nearest(stamps[run], times))
    return np.concatenate(stretches), np.concatenate(ticks), np.concatenate(images)


def _latest(times: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Index of the last of ``times`` (sorted) at or before each query; -1 where there is none."""
    return np.searchsorted(times, queries, side="right") - 1


def _nearest(times: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Index of the one of ``times`` (sorted, not empty) nearest to each query."""
    right = np.minimum(np.searchsorted(times, queries), len(times) - 1)
    left = np.maximum(right - 1, 0)
    return np.where(np.abs(times[left] - queries) <= np.abs(times[right] - queries), left, right)


# -- messages ------------------------------------------------------------------------------------
def _stamp(message) -> int:
    """A message's header stamp [ns]."""
    return message.header.stamp.sec * 1_000_000_000 + message.header.stamp.nanosec


@dataclass(frozen=True)
class _Camera:
    """One camera's recorded frames, in stamp order, and what the policy sees of each."""

    topic: str  # where they were recorded
    transport: Transport
    frames: list[BagMessage]
    spec: CameraInput
    option: str  # the prefix of the options that set ``spec``: camera, wrist-camera

    @classmethod
    def recorded(cls, recording: Recording, base: str, spec: CameraInput) -> _Camera | None:
        """The camera on ``base``: its raw frames where the recording holds them (lossless), else its compressed."""
        for transport in TRANSPORTS.values():
            frames = recording.messages.get(transport.topic(base))
            if frames:
                return cls(transport.topic(base), transport, sorted(frames, key=lambda m: _stamp(m.message)), spec,
                           CAMERAS[base].replace("_", "-"))
        return None

    def image(self, index: int, size: int | None = None) -> np.ndarray:
        """Frame ``index`` as the policy sees it: (size, size, 3) uint8 RGB (None: the spec's square, unresized);
        BagConversionError naming the frame where it cannot be."""
        message = self.frames[index].message
        try:
            pixels, bgr = self.transport.decode(message)
            return self.spec.apply(pixels, size or (self.spec.crop[3] if self.spec.crop else len(pixels)), bgr)
        except ValueError as error:
            raise BagConversionError(
                f"{self.topic}: image {index} (stamp {_stamp(message)} ns): {error}; a dataset takes colour frames, "
                f"cropped square where they are not (--{self.option}-crop, or --params)") from None


def _joint_states(messages: list[BagMessage], robot: RobotDescription) -> tuple[np.ndarray, np.ndarray]:
    """(stamps, states) sorted by stamp; a state is arm positions, arm velocities, gripper position."""
    stamps, states = [], []
    for bag_message in sorted(messages, key=lambda m: _stamp(m.message)):
        try:
            position, velocity = joint_state_from_msg(bag_message.message, robot.joint_names)
        except ValueError as error:
            raise BagConversionError(f"{JOINT_STATES}: {error} (joints {', '.join(bag_message.message.name)}); "
                                     f"is the recording of a {robot.name}?") from None
        stamps.append(_stamp(bag_message.message))
        states.append(proprio_state(position, velocity))
    return np.array(stamps, dtype=np.int64), np.array(states, dtype=np.float32)


def _commands(messages: list[BagMessage], joints: tuple[str, ...], topic: str) -> tuple[np.ndarray, np.ndarray]:
    """(receive times, targets of ``joints``) of the commands on ``topic``: each one's first point."""
    times, targets = [], []
    for bag_message in messages:
        if not bag_message.message.points:  # an empty trajectory stops the controller: no target
            continue
        try:
            names, positions, _ = trajectory_from_msg(bag_message.message)
            missing = [j for j in joints if j not in names]
            if missing:
                raise ValueError(f"no {', '.join(missing)} among the joints {', '.join(names)}")
        except ValueError as error:
            raise BagConversionError(f"{topic}: {error}") from None
        times.append(bag_message.log_time)
        targets.append([positions[0][names.index(j)] for j in joints])
    if not times:
        raise BagConversionError(f"{topic}: every command is empty (no trajectory point); no action to learn")
    return np.array(times, dtype=np.int64), np.array(targets, dtype=np.float32)
