"""Collect demonstrations: scripted experts, domain randomization on, worker processes, one dataset.

Episode keys and seeds. Each task has its own seed stream ``seed, seed+1, seed+2, ...``;
its episode with seed s has the key (task, s). A collection keeps, for every task, the
first ``episodes`` seeds of the stream whose expert episode succeeds. A failed seed is
discarded (recorded in info.json, never run again) and the next seed of the stream is
drawn instead; after ``max_failures`` discards in one run a task gives up, and the
collection says it is incomplete. Keys already in the dataset are skipped, so running
the same command again resumes an interrupted collection and does nothing after a
finished one.

Work is handed to the workers in a fixed order (tasks interleaved, replacements for
failed seeds appended) and results are written in that order, so the dataset's content
does not depend on the number of workers.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from robostral.data import DatasetError, DatasetSpec, DatasetWriter, Episode
from robostral.data.layout import IMAGE_KEYS
from robostral.workers import WorkerDied, WorkerPool
from robots import DEFAULT_ROBOT, is_path, load_robot
from sim.camera_input import CameraSource
from sim.config import from_dict
from sim.env import EnvConfig
from sim.envs import ENV_IDS
from sim.rollout import make_env, record_expert_episode
from sim.tasks import TASKS

# The options of each camera's source (``--camera-resolution``, ``--wrist-camera-crop``...), by config field.
CAMERA_OPTIONS = {"camera_source": "--camera", "wrist_camera_source": "--wrist-camera"}

SEED_POLICY = (
    "each task's seeds run seed, seed+1, ...; the dataset keeps the first N that succeed per task; "
    "a failed seed is listed under 'discarded' and the next one is drawn"
)


@dataclass(frozen=True)
class CollectConfig:
    """One ``robostral collect`` run."""

    out: str  # dataset directory
    robot: str = DEFAULT_ROBOT
    tasks: tuple[str, ...] = tuple(TASKS)
    episodes: int = 100  # successful episodes to keep per task
    seed: int = 0  # first seed of every task's seed stream
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)  # processes running episodes
    image_size: int = 96  # pixels, square camera images
    wrist: bool = False  # record the wrist camera too
    camera_source: CameraSource | None = None  # the front camera's frame and crop (EnvConfig.camera_source)
    wrist_camera_source: CameraSource | None = None
    level: float = 1.0  # domain randomization level (0 = nominal scenes)
    perturbation: float = 0.0  # rad, std of noise bursts on the executed arm targets (labels stay the expert's)
    settle_steps: int = 0  # steps recorded after a success while the expert holds its goal
    flush_every: int = 32  # episodes per flush: at most this many are lost to a hard kill
    max_failures: int | None = None  # discarded seeds per task and run before giving up; None: max(10, episodes)

    def __post_init__(self) -> None:
        unknown = [t for t in self.tasks if t not in ENV_IDS]
        if not self.tasks or unknown or len(set(self.tasks)) != len(self.tasks):
            raise ValueError(f"tasks must be distinct names from {', '.join(ENV_IDS)}; got {','.join(self.tasks)}")
        load_robot(self.robot)  # a RobotError names the known robots, or what is wrong with the file
        if is_path(self.robot):  # the dataset (and the policies trained on it) name the file wherever they run
            object.__setattr__(self, "robot", str(Path(self.robot).resolve()))
        for name in ("episodes", "workers", "image_size", "flush_every"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.max_failures is not None and self.max_failures < 0:
            raise ValueError(f"max_failures must be >= 0, got {self.max_failures}")
        if not np.isfinite(self.level) or self.level < 0:
            raise ValueError(f"level must be a finite number >= 0, got {self.level}")
        if not np.isfinite(self.perturbation) or not 0 <= self.perturbation <= 0.5:
            raise ValueError(f"perturbation must be within [0, 0.5] rad, got {self.perturbation}")
        if not 0 <= self.settle_steps <= 100:
            raise ValueError(f"settle_steps must be within [0, 100], got {self.settle_steps}")
        from_dict(EnvConfig, self.env_kwargs)  # the env settings checked now, not in every worker

    @property
    def failure_budget(self) -> int:
        return max(10, self.episodes) if self.max_failures is None else self.max_failures

    @property
    def env_kwargs(self) -> dict:
        """What ``make_env`` gets besides the task and robot."""
        return {"image_size": self.image_size, "wrist_camera": self.wrist, "randomization": {"level": self.level},
                "camera_source": self.camera_source, "wrist_camera_source": self.wrist_camera_source}

    @property
    def command(self) -> str:
        """The command line that makes (or resumes) exactly this dataset."""
        words = ["robostral", "collect", "--out", self.out, "--robot", self.robot, "--tasks", ",".join(self.tasks),
                 "--episodes", str(self.episodes), "--seed", str(self.seed), "--image-size", str(self.image_size),
                 "--level", str(self.level), "--flush-every", str(self.flush_every)]
        if self.wrist:
            words.append("--wrist")
        for name, option in CAMERA_OPTIONS.items():
            words += camera_words(option, getattr(self, name))
        if self.perturbation:
            words += ["--perturbation", str(self.perturbation)]
        if self.settle_steps:
            words += ["--settle-steps", str(self.settle_steps)]
        if self.max_failures is not None:
            words += ["--max-failures", str(self.max_failures)]
        return shlex.join(words)


@dataclass
class CollectReport:
    """What one run did; ``incomplete`` maps a task that gave up to the episodes it is short."""

    out: Path
    kept: int = 0  # episodes this run added
    discarded: int = 0  # failed expert episodes this run did not keep
    skipped: int = 0  # keys that were already in the dataset
    frames: int = 0  # frames this run added
    seconds: float = 0.0
    total_episodes: int = 0  # in the dataset after this run
    interrupted: bool = False
    incomplete: dict[str, int] = field(default_factory=dict)
    removed_strays: list[str] = field(default_factory=list)


class SeedPlan:
    """Which seeds each task still needs: the first ``episodes`` successful seeds of its stream."""

    def __init__(self, config: CollectConfig, kept: set[tuple[str, int]], discarded: dict[str, list[int]]) -> None:
        self.episodes = config.episodes
        self.kept = kept
        self.discarded = {task: set(discarded.get(task, ())) for task in config.tasks}
        self.cursor = {task: config.seed for task in config.tasks}
        self.claimed = dict.fromkeys(config.tasks, 0)  # kept or running
        self.failures = dict.fromkeys(config.tasks, 0)
        self.budget = config.failure_budget
        self.skipped = 0

    def draw(self, task: str) -> int | None:
        """The next seed to run for ``task``; None when enough are kept or running."""
        while self.claimed[task] < self.episodes:
            seed = self.cursor[task]
            self.cursor[task] += 1
            if seed in self.discarded[task]:
                continue
            self.claimed[task] += 1
            if (task, seed) in self.kept:
                self.skipped += 1
                continue
            return seed
        return None

    def initial(self) -> list[tuple[str, int]]:
        """The seeds to run if every one succeeds, tasks interleaved."""
        keys: list[tuple[str, int]] = []
        while True:
            drawn = [(task, self.draw(task)) for task in self.cursor]
            drawn = [(task, seed) for task, seed in drawn if seed is not None]
            if not drawn:
                return keys
            keys += drawn

    def replace(self, task: str, seed: int) -> int | None:
        """Record a failed seed and draw the one that takes its place (None: the task gave up)."""
        self.discarded[task].add(seed)
        self.claimed[task] -= 1
        self.failures[task] += 1
        return self.draw(task) if self.failures[task] < self.budget else None

    def shortfall(self) -> dict[str, int]:
        return {task: self.episodes - n for task, n in self.claimed.items() if n < self.episodes}


def collect(config: CollectConfig, progress: bool = True) -> CollectReport:
    """Run the experts until every task has its episodes in ``config.out``, or Ctrl-C/SIGTERM.

    Finished episodes are flushed every ``config.flush_every`` and when the run stops for
    any reason; an interrupted run is resumed by calling this again with the same config.
    """
    start = time.monotonic()
    probe = make_env(config.tasks[0], config.robot, **config.env_kwargs)
    env_config = json.loads(json.dumps(asdict(probe.unwrapped.config)))
    env_config["expert_perturbation"] = config.perturbation
    env_config["expert_settle_steps"] = config.settle_steps
    spec = DatasetSpec(config.robot, tuple(probe.unwrapped.robot.joint_names), probe.unwrapped.config.control_hz,
                       config.image_size, config.wrist)
    probe.close()
    provenance = {"env_config": env_config, "env_ids": {}, "discarded": {}, "commands": [], "seed_policy": SEED_POLICY}
    writer = DatasetWriter(config.out, spec, provenance)
    report = CollectReport(Path(config.out), removed_strays=writer.removed_strays)
    try:
        older = {"expert_perturbation": 0.0, "expert_settle_steps": 0}  # datasets from before these options
        stored = {**older, **writer.provenance.get("env_config", {})}
        _check_env_config(config.out, stored, env_config)
        plan = SeedPlan(config, writer.keys, writer.provenance.setdefault("discarded", {}))
        jobs = deque(plan.initial())
        report.skipped = plan.skipped
        if jobs:
            _record_run(writer.provenance, config)
            with _interrupts_as_keyboard_interrupt():
                _run(config, plan, jobs, writer, report, progress)
        report.incomplete = plan.shortfall()
    except KeyboardInterrupt:
        report.interrupted = True
    finally:
        if report.kept or report.discarded:
            writer.flush()
        writer.close()
        report.total_episodes = writer.info["total_episodes"]
        report.seconds = time.monotonic() - start
    return report


def camera_words(option: str, source: CameraSource | None) -> list[str]:
    """The command line options (``--camera-resolution 640x480 --camera-crop 80 0 480 480``...) giving ``source``."""
    if source is None:
        return []
    words = [f"{option}-resolution", f"{source.width}x{source.height}"]
    if source.crop is not None:
        words += [f"{option}-crop", *map(str, source.crop)]
    if source.rotate:
        words += [f"{option}-rotate", str(source.rotate)]
    return words + ([f"{option}-mirror"] if source.mirror else [])


def _check_env_config(out: str, stored: dict, requested: dict) -> None:
    """Refuse to mix episodes recorded under different env settings (randomization, cameras, rates)."""
    have, want = _flatten(stored), _flatten(requested)
    differences = [f"{key}: dataset {have.get(key)!r}, this run {want.get(key)!r}"
                   for key in sorted(have.keys() | want.keys()) if have.get(key) != want.get(key)]
    if differences:
        raise DatasetError(f"{out}: recorded with other env settings ({'; '.join(differences)}); "
                           "write to another directory")


def _flatten(values: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in values.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _record_run(provenance: dict, config: CollectConfig) -> None:
    provenance.setdefault("env_ids", {}).update({task: ENV_IDS[task] for task in config.tasks})
    commands = provenance.setdefault("commands", [])
    if config.command not in commands:
        commands.append(config.command)


def _run(config: CollectConfig, plan: SeedPlan, jobs: deque, writer: DatasetWriter, report: CollectReport,
         progress: bool) -> None:
    """Hand ``jobs`` to worker processes, write results in job order, draw replacements for failures."""
    bar = tqdm(total=len(jobs), desc=f"collect {config.robot}", unit="ep", disable=not progress, smoothing=0.1)
    pool = WorkerPool(_expert_runner, (config,), min(config.workers, len(jobs)), "collection")
    try:
        with pool:
            for (task, seed), episode in pool.run(jobs):
                if episode is not None:
                    writer.add(episode)
                    report.kept += 1
                    report.frames += episode.length
                    bar.update()
                    if writer.pending >= config.flush_every:
                        writer.flush()
                else:
                    writer.provenance["discarded"].setdefault(task, []).append(seed)
                    report.discarded += 1
                    replacement = plan.replace(task, seed)
                    if replacement is not None:
                        jobs.append((task, replacement))
                bar.set_postfix(kept=report.kept, discarded=report.discarded)
    except WorkerDied as error:
        raise WorkerDied(f"{error}; re-run to resume") from None
    finally:
        bar.close()


def _expert_runner(config: CollectConfig):
    """In a worker: run an expert episode per job (task, seed), keeping one env per task."""
    envs = {}

    def run(job: tuple[str, int], tick) -> Episode | None:
        task, seed = job
        if task not in envs:
            envs[task] = make_env(task, config.robot, **config.env_kwargs)
        return _episode(task, config.robot, record_expert_episode(envs[task], seed, config.perturbation,
                                                                  config.settle_steps))

    return run


def _episode(task: str, robot: str, recorded) -> Episode | None:
    """The recorded episode of ``task`` on ``robot`` (as the dataset names it) encoded, or None when the expert
    failed."""
    result = recorded.result
    if not result.success:
        return None
    observations = recorded.observations
    images = {IMAGE_KEYS[key]: np.stack([o[key] for o in observations])
              for key in IMAGE_KEYS if key in observations[0]}
    return Episode.encode(
        sim_task=task,  # ``chain`` links are pick_place episodes of the chain scene (``result.task``)
        seed=result.seed,
        robot=robot,
        instruction=result.instruction,
        success=True,
        images=images,
        state=np.stack([o["proprio"] for o in observations]),
        action=np.stack(recorded.actions),
        randomization=recorded.randomization,
    )


class _interrupts_as_keyboard_interrupt:
    """Within this block SIGTERM stops the run like Ctrl-C does: finished episodes are flushed."""

    def __enter__(self) -> None:
        self.previous = None
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)

    def __exit__(self, *exc_info) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGTERM, self.previous)


def _raise_keyboard_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt
