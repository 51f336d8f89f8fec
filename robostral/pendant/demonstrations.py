"""Demonstrations recorded at the cell from the pendant: record, stop, keep or discard; list, review, delete.

An engineer gives the instruction, presses Record and teleoperates (hold-to-jog, the gripper, a
gamepad). The cell's ``Recorder`` (the pendant node's ``ros.demonstration_recorder``) buffers one take
in memory: the cameras as the policy sees them, the joint states and the pendant's commands. Stop
ends the take; Keep makes it one episode (``robostral dataset from-bag``'s conversion) and appends it
to the dataset in ``folder`` (``robostral.data``, LeRobotDataset v3.0) before it answers: a kept
demonstration is committed and fsynced. Discard drops the take. A crash or a kill mid-take loses that
take and nothing else.

The dataset is an ordinary one (``load_dataset`` reads it, ``robostral train`` trains on it) for the
cell's robot, joints and rate. Its episodes from the pendant have sim_task ``DEMONSTRATION_TASK`` and
as seed the demonstration's number, never reused; info.json's ``robostral.demonstrations`` says who
recorded each and when it started and ended. Deleting one rewrites the dataset without it
(``data.remove``). Every action is audited. Plain Python, no ROS.
"""

from __future__ import annotations

import collections
import dataclasses
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from robostral.data import Dataset, DatasetError, DatasetSpec, DatasetWriter, Episode, load_dataset
from robostral.data.files import JOURNAL_PATH, current_path
from robostral.data.layout import IMAGE_KEYS, INFO_PATH
from robostral.data.remove import remove_episodes
from robostral.pendant.access.audit import Action, AuditLog
from robostral.pendant.access.auth import User
from robostral.pendant.errors import Conflict, NotFound
from robostral.pendant.programs.document import parse_instruction

DEMONSTRATION_TASK = "pendant:demonstration"  # the sim_task of the pendant's episodes
PROVENANCE = "demonstrations"  # info.json's robostral.demonstrations: next_seed, and each episode's who and when
CAMERAS = {"front": IMAGE_KEYS["image"], "wrist": IMAGE_KEYS["wrist_image"]}  # the page's names for the image columns
REVIEWED = 4  # episodes whose frames are kept in memory for review


class Recorder(Protocol):
    """What records a take at the cell, one at a time."""

    def robot(self) -> tuple[str, tuple[str, ...]]:
        """The cell's arm: its name and joint names (arm joints, then the gripper's drive)."""

    def cell_spec(self) -> DatasetSpec:
        """A new dataset of this cell's demonstrations: its arm, the policy's rate and image size, its cameras."""

    def start(self, spec: DatasetSpec) -> None:
        """Begin a take for ``spec`` (its rate, image size, cameras); Unavailable or Conflict if the cell cannot."""

    def stop(self) -> None:
        """End the take: nothing that arrives after is in it."""

    def progress(self) -> dict:
        """The take so far: ``seconds``, camera ``frames``, ``ended`` (why it ended by itself, else ''),
        ``problem`` (why it cannot be kept, else '')."""

    def episode(self, instruction: str) -> Episode:
        """The ended take as one episode with ``instruction``; Conflict saying why where it cannot be one."""

    def drop(self) -> None:
        """Forget the take."""


@dataclasses.dataclass
class _Take:
    user: str
    instruction: str
    spec: DatasetSpec
    started_at: float  # Unix s
    ended_at: float | None = None
    ended: str = ""  # why
    keeping: bool = False  # being written into the dataset


class Demonstrations:
    """The Demonstrate screen's state and the dataset in ``folder``, for the routes (thread-safe)."""

    def __init__(self, folder: str | Path, recorder: Recorder, audit: AuditLog,
                 clock: Callable[[], float] = time.time) -> None:
        self.folder, self.recorder, self.audit, self.clock = Path(folder), recorder, audit, clock
        self._lock = threading.RLock()  # the take
        self._dataset_lock = threading.Lock()  # every read and write of the dataset in this process
        self._take: _Take | None = None
        self._cached: tuple[tuple, Dataset] | None = None  # (the files' version, the dataset read then)
        self._frames: collections.OrderedDict[tuple, list[bytes]] = collections.OrderedDict()

    # -- the take -----------------------------------------------------------------------------------
    def status(self) -> dict:
        with self._lock:
            take = self._take
            if take is None:
                return {"state": "idle", "folder": str(self.folder)}
            progress = self.recorder.progress()
            if take.ended_at is None and progress.get("ended"):  # it ended by itself (its length limit)
                self._end(take, take.user, progress["ended"])
            spec = take.spec
            state = "recording" if take.ended_at is None else "keeping" if take.keeping else "stopped"
            return {"state": state, "folder": str(self.folder),
                    "instruction": take.instruction, "user": take.user, "started_at": take.started_at,
                    "ended_at": take.ended_at, "ended": take.ended, "seconds": progress.get("seconds", 0.0),
                    "frames": progress.get("frames", 0), "problem": progress.get("problem", ""),
                    "fps": spec.fps, "image_size": spec.image_size, "wrist": spec.wrist}

    def record(self, user: User, instruction: object) -> dict:
        """Start a take of ``instruction`` (``sim.language``'s rules: BadRequest otherwise)."""
        instruction = parse_instruction(instruction)
        with self._lock:
            if self._take is not None:
                what = "is being recorded" if self._take.ended_at is None else "waits to be kept or discarded"
                raise Conflict(f"the demonstration {self._take.instruction!r} {what}")
            spec = self._spec()
            self.recorder.start(spec)
            try:
                self.audit.record(user.name, Action.DEMONSTRATION_STARTED,
                                  {"instruction": instruction, "dataset": str(self.folder)})
            except BaseException:
                self.recorder.drop()
                raise
            self._take = _Take(user.name, instruction, spec, self.clock())
        return self.status()

    def stop(self, user: User) -> dict:
        with self._lock:
            take = self._current()
            if take.ended_at is not None:
                raise Conflict(f"the demonstration {take.instruction!r} has stopped already: keep or discard it")
            self._end(take, user.name, f"stopped by {user.name}")
        return self.status()

    def keep(self, user: User) -> dict:
        """Append the stopped take to the dataset (on disk when this returns); its entry in ``episodes``.

        The take is converted and written outside the take's lock (seconds, for a long take), marked
        ``keeping`` meanwhile: the status answers, and a second keep or a discard is refused.
        """
        with self._lock:
            take = self._current()
            if take.ended_at is None:
                raise Conflict(f"the demonstration {take.instruction!r} is still being recorded: stop it first")
            take.keeping = True
        try:
            episode = self.recorder.episode(take.instruction)
            index, seed = self._append(episode, take)
        except BaseException:
            with self._lock:
                take.keeping = False
            raise
        with self._lock:
            self.recorder.drop()
            self._take = None
            self.audit.record(user.name, Action.DEMONSTRATION_KEPT, {
                "instruction": take.instruction, "episode": index, "seed": seed, "frames": episode.length,
                "recorded_by": take.user, "dataset": str(self.folder)})
        return self.episodes()["episodes"][index]

    def discard(self, user: User) -> None:
        """Drop the take, stopping it first if it is still being recorded."""
        with self._lock:
            take = self._current()
            if take.ended_at is None:
                self._end(take, user.name, f"discarded by {user.name}")
            self.recorder.drop()
            self._take = None
            self.audit.record(user.name, Action.DEMONSTRATION_DISCARDED,
                              {"instruction": take.instruction, "recorded_by": take.user})

    def _current(self) -> _Take:
        if self._take is None:
            raise Conflict("no demonstration is being recorded")
        if self._take.keeping:
            raise Conflict(f"the demonstration {self._take.instruction!r} is being kept")
        return self._take

    def _end(self, take: _Take, user: str, why: str) -> None:
        self.recorder.stop()
        take.ended_at, take.ended = self.clock(), why
        progress = self.recorder.progress()
        self.audit.record(user, Action.DEMONSTRATION_STOPPED, {
            "instruction": take.instruction, "why": why, "seconds": round(progress.get("seconds", 0.0), 3),
            "frames": progress.get("frames", 0)})

    def _spec(self) -> DatasetSpec:
        """The take's spec: the dataset's where there is one (a dataset never mixes two), else the cell's."""
        with self._dataset_lock:
            dataset = self._dataset()
            if dataset is None and self.folder.exists() and any(self.folder.iterdir()):
                raise Conflict(f"{self.folder} is not a dataset and not empty: choose another folder for the "
                               "demonstrations (the pendant node's parameter demonstrations)")
            spec = DatasetSpec.of(dataset) if dataset is not None else None
        if spec is None:
            return self.recorder.cell_spec()
        robot, joints = self.recorder.robot()
        if (spec.robot, tuple(spec.joint_names)) != (robot, tuple(joints)):
            raise Conflict(f"the dataset {self.folder} is of a {spec.robot} with the joints "
                           f"{', '.join(spec.joint_names)}; this cell is a {robot}: use another folder")
        return spec

    def _append(self, episode: Episode, take: _Take) -> tuple[int, int]:
        """Write ``episode`` into the dataset (committed before this returns); its (index, seed)."""
        with self._dataset_lock:
            try:
                writer = DatasetWriter(self.folder, take.spec, {"source": "robostral pendant: demonstrations"})
            except DatasetError as error:
                raise Conflict(f"the demonstration was not kept: {error}") from None
            with writer:
                record = writer.provenance.setdefault(PROVENANCE, {"next_seed": 0, "episodes": {}})
                taken = [seed for task, seed in writer.keys if task == DEMONSTRATION_TASK]
                seed = max([record["next_seed"], *(s + 1 for s in taken)])
                record["next_seed"] = seed + 1
                record["episodes"][str(seed)] = {"recorded_by": take.user, "started_at": take.started_at,
                                                 "ended_at": take.ended_at}
                writer.add(dataclasses.replace(episode, sim_task=DEMONSTRATION_TASK, seed=seed))
                writer.flush()
                return writer.info["total_episodes"] - 1, seed

    # -- the dataset ---------------------------------------------------------------------------------
    def episodes(self) -> dict:
        """The dataset's episodes as the screen lists them, and the instructions it has (to choose from)."""
        with self._dataset_lock:
            dataset = self._dataset()
        if dataset is None:
            return {"folder": str(self.folder), "episodes": [], "tasks": []}
        recorded = dataset.info.get("robostral", {}).get(PROVENANCE, {}).get("episodes", {})
        cameras = [name for name, key in CAMERAS.items() if key in dataset.features]
        listed = []
        for index, episode in enumerate(dataset.episodes):
            ours = episode["sim_task"] == DEMONSTRATION_TASK
            who = recorded.get(str(episode["seed"]), {}) if ours else {}
            listed.append({"index": index, "seed": episode["seed"], "source": episode["sim_task"],
                           "instruction": episode["tasks"][0], "frames": episode["length"],
                           "seconds": episode["length"] / dataset.fps, "cameras": cameras,
                           "recorded_by": who.get("recorded_by"), "started_at": who.get("started_at"),
                           "ended_at": who.get("ended_at")})
        return {"folder": str(self.folder), "episodes": listed, "tasks": dataset.tasks, "fps": dataset.fps,
                "robot": dataset.robot, "image_size": DatasetSpec.of(dataset).image_size}

    def frame(self, index: int, frame: int, camera: str) -> bytes:
        """Frame ``frame`` (negative: from the end) of episode ``index``'s ``camera`` (front, wrist), as PNG."""
        if camera not in CAMERAS:
            raise NotFound(f"no camera {camera!r:.20}: front or wrist")
        with self._dataset_lock:
            dataset, episode = self._episode(index)
            key = (episode["sim_task"], episode["seed"], camera)
            frames = self._frames.pop(key, None)
            if frames is None:
                if CAMERAS[camera] not in dataset.features:
                    raise NotFound(f"the dataset has no {camera} camera images")
                try:
                    frames = [png for png, _ in dataset.image_frames(CAMERAS[camera], index)]
                except DatasetError as error:
                    raise Conflict(str(error)) from None
            self._frames[key] = frames
            while len(self._frames) > REVIEWED:
                self._frames.popitem(last=False)
        if not -len(frames) <= frame < len(frames):
            raise NotFound(f"episode {index} has frames 0 to {len(frames) - 1}")
        return frames[frame]

    def delete(self, user: User, index: int, seed: int) -> None:
        """Remove episode ``index`` (which must have ``seed``: the list the page shows may be out of date)."""
        with self._dataset_lock:
            _, episode = self._episode(index)
            if episode["seed"] != seed:
                raise Conflict(f"episode {index} is another demonstration now (seed {episode['seed']}, not {seed}): "
                               "reload the list")
            ours = episode["sim_task"] == DEMONSTRATION_TASK

            def forget(provenance: dict) -> None:
                if ours:
                    provenance.get(PROVENANCE, {}).get("episodes", {}).pop(str(seed), None)

            try:
                remove_episodes(self.folder, [index], forget)
            except DatasetError as error:
                raise Conflict(f"episode {index} was not deleted: {error}") from None
            finally:
                self._frames.clear()
            self.audit.record(user.name, Action.DEMONSTRATION_DELETED, {
                "episode": index, "seed": seed, "source": episode["sim_task"], "instruction": episode["tasks"][0],
                "frames": episode["length"], "dataset": str(self.folder)})

    def _episode(self, index: int) -> tuple[Dataset, dict]:
        dataset = self._dataset()
        count = len(dataset.episodes) if dataset else 0
        if not 0 <= index < count:
            raise NotFound(f"no episode {index}: the dataset {self.folder} has {count}")
        return dataset, dataset.episodes[index]

    def _dataset(self) -> Dataset | None:
        """The dataset in ``folder`` (None before the first is kept), read again only when its files changed."""
        info, journal = current_path(self.folder, INFO_PATH), self.folder / JOURNAL_PATH
        try:
            stat = info.stat()
        except FileNotFoundError:
            return None
        version = (str(info), stat.st_ino, stat.st_mtime_ns, stat.st_size, journal.exists())
        if self._cached is None or self._cached[0] != version:
            try:
                self._cached = (version, load_dataset(self.folder))
            except DatasetError as error:
                raise Conflict(f"the demonstrations' dataset cannot be read: {error}") from None
        return self._cached[1]
