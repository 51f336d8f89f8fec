"""Collect demonstrations: scripted experts, domain randomization on, worker processes, one dataset.

Episode keys and seeds. Each task has its own seed stream ``seed, seed+1, seed+2, ...``;
its episode with seed s has the key (task, s). A collection keeps, for every task, the
first ``episodes`` seeds of the stream whose expert episode succeeds. A failed seed is
discarded (recorded in info.json, never run again) and the next seed of the stream is
drawn instead; after ``max_failures`` discards in one run a task gives up, and the
collection says it is incomplete. Keys already in the dataset are skipped, so running
the same command again resumes an interrupted collection and does nothing after a
finished one.

DAgger (``dagger``: a policy bundle). The policy drives and the expert labels every
state it visits, re-planning from the scene at each step; every episode is kept, success
or not, since the states where the policy goes wrong are the ones worth labelling. Its
seeds must not be the dataset's expert seeds: a DAgger key already in the dataset counts
as done only when a DAgger run of the same bundle recorded it (``provenance["dagger"]``).

Work is handed to the workers in a fixed order (tasks interleaved, replacements for
failed seeds appended) and results are written in that order, so the dataset's content
does not depend on the number of workers.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import signal
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
from tqdm import tqdm

from robostral.data import DatasetError, DatasetSpec, DatasetWriter, Episode
from robostral.data.layout import IMAGE_KEYS
from robostral.digest import sha256_file
from robostral.workers import WorkerDied, WorkerPool
from robots import DEFAULT_ROBOT, is_path, load_robot
from sim.camera_input import CameraSource
from sim.config import from_dict
from sim.env import EnvConfig
from sim.envs import ENV_IDS
from sim.rollout import Driver, make_env, record_expert_episode
from sim.tasks import TASKS

# The options of each camera's source (``--camera-resolution``, ``--wrist-camera-crop``...), by config field.
CAMERA_OPTIONS = {"camera_source": "--camera", "wrist_camera_source": "--wrist-camera"}

# Builds, in a worker, what drives the arm in a DAgger run from the bundle's path.
MakeDriver = Callable[[str], Driver]

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
    dagger: str | None = None  # a policy bundle that drives while the expert labels (DAgger); None: the expert drives

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
        if self.dagger is not None:
            if not Path(self.dagger).is_dir():
                raise ValueError(f"dagger: no policy bundle at {self.dagger}")
            object.__setattr__(self, "dagger", str(Path(self.dagger).resolve()))

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
        if self.dagger is not None:
            words += ["--dagger", self.dagger]
        return shlex.join(words)

    @cached_property
    def dagger_run(self) -> dict:
        """What the dataset's provenance keeps of a DAgger run: which bundle drove which seeds."""
        return {"bundle": self.dagger, "bundle_sha256": _directory_hash(Path(self.dagger)),
                "tasks": list(self.tasks), "seed": self.seed, "episodes": self.episodes}


@dataclass
class CollectReport:
    """What one run did; ``incomplete`` maps a task that gave up to the episodes it is short."""

    out: Path
    kept: int = 0  # episodes this run added
    discarded: int = 0  # failed expert episodes this run did not keep
    succeeded: int = 0  # of the kept episodes, those that reached the goal (all of them, unless DAgger)
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


def collect(config: CollectConfig, progress: bool = True, make_driver: MakeDriver | None = None) -> CollectReport:
    """Run the experts until every task has its episodes in ``config.out``, or Ctrl-C/SIGTERM.

    Finished episodes are flushed every ``config.flush_every`` and when the run stops for
    any reason; an interrupted run is resumed by calling this again with the same config.
    A DAgger run (``config.dagger``) needs ``make_driver``, a picklable function that makes
    the bundle's driver in each worker.
    """
    if config.dagger is not None and make_driver is None:
        raise ValueError("a DAgger collection (dagger=BUNDLE) needs make_driver, which makes the bundle's driver")
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
        if config.dagger is not None:
            _check_dagger_seeds(config, writer.keys, writer.provenance.get("dagger", []))
        plan = SeedPlan(config, writer.keys, writer.provenance.setdefault("discarded", {}))
        jobs = deque(plan.initial())
        report.skipped = plan.skipped
        if jobs:
            _record_run(writer.provenance, config)
            with _interrupts_as_keyboard_interrupt():
                _run(config, plan, jobs, writer, report, progress, make_driver)
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


def _check_dagger_seeds(config: CollectConfig, keys: set[tuple[str, int]], runs: list[dict]) -> None:
    """Refuse a DAgger run whose seeds the dataset already holds from anything but a run of this bundle."""
    bundle = config.dagger_run["bundle_sha256"]

    def ours(task: str, seed: int) -> bool:
        return any(run["bundle_sha256"] == bundle and task in run["tasks"]
                   and run["seed"] <= seed < run["seed"] + run["episodes"] for run in runs)

    taken = sorted((task, seed) for task, seed in keys
                   if task in config.tasks and config.seed <= seed < config.seed + config.episodes
                   and not ours(task, seed))
    if taken:
        task, seed = taken[0]
        raise DatasetError(f"{config.out} already holds {len(taken)} episode(s) of these seeds not driven by "
                           f"{config.dagger} (first: {task} seed {seed}); give this DAgger round its own seeds "
                           f"with --seed (e.g. {max(s for _, s in keys) + 1} or above)")


def _directory_hash(root: Path) -> str:
    """sha256 over a directory's files, names and contents: a bundle's identity."""
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + bytes.fromhex(sha256_file(path)))
    return digest.hexdigest()


def _record_run(provenance: dict, config: CollectConfig) -> None:
    provenance.setdefault("env_ids", {}).update({task: ENV_IDS[task] for task in config.tasks})
    commands = provenance.setdefault("commands", [])
    if config.command not in commands:
        commands.append(config.command)
    if config.dagger is not None:
        runs = provenance.setdefault("dagger", [])
        if config.dagger_run not in runs:
            runs.append(config.dagger_run)


def _run(config: CollectConfig, plan: SeedPlan, jobs: deque, writer: DatasetWriter, report: CollectReport,
         progress: bool, make_driver: MakeDriver | None) -> None:
    """Hand ``jobs`` to worker processes, write results in job order, draw replacements for failures."""
    what = "dagger" if config.dagger is not None else "collect"
    bar = tqdm(total=len(jobs), desc=f"{what} {config.robot}", unit="ep", disable=not progress, smoothing=0.1)
    pool = WorkerPool(_expert_runner, (config, make_driver), min(config.workers, len(jobs)), "collection")
    try:
        with pool:
            for (task, seed), episode in pool.run(jobs):
                if episode is not None:
                    writer.add(episode)
                    report.kept += 1
                    report.succeeded += episode.success
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
                bar.set_postfix(kept=report.kept, succeeded=report.succeeded, discarded=report.discarded)
    except WorkerDied as error:
        raise WorkerDied(f"{error}; re-run to resume") from None
    finally:
        bar.close()


def _expert_runner(config: CollectConfig, make_driver: MakeDriver | None):
    """In a worker: run an episode per job (task, seed), keeping one env per task and one driver."""
    envs = {}
    driver = None if config.dagger is None else make_driver(config.dagger)

    def run(job: tuple[str, int], tick) -> Episode | None:
        task, seed = job
        if task not in envs:
            envs[task] = make_env(task, config.robot, **config.env_kwargs)
        recorded = record_expert_episode(envs[task], seed, config.perturbation, config.settle_steps, driver)
        return _episode(task, config.robot, recorded, keep_failures=driver is not None)

    return run


def _episode(task: str, robot: str, recorded, keep_failures: bool = False) -> Episode | None:
    """The recorded episode of ``task`` on ``robot`` (as the dataset names it) encoded, or None when it is not
    kept: the expert failed (unless ``keep_failures``), or nothing was recorded (a chain's lead-in failed)."""
    result = recorded.result
    if not recorded.observations or not (result.success or keep_failures):
        return None
    observations = recorded.observations
    images = {IMAGE_KEYS[key]: np.stack([o[key] for o in observations])
              for key in IMAGE_KEYS if key in observations[0]}
    return Episode.encode(
        sim_task=task,  # ``chain`` links are pick_place episodes of the chain scene (``result.task``)
        seed=result.seed,
        robot=robot,
        instruction=result.instruction,
        success=result.success,
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
