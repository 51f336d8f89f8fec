"""The sweep file: which policies, robots, tasks, randomization points and seeds to run, and how many episodes.

A sweep file is YAML::

    name: lighting                       # names the output folder's sweep; a re-run must keep it
    policies: [policies/robostral-s-panda]   # bundle folders, older versions first
    robots: [panda]                      # optional: by default the robots the bundles drive
    tasks: [reach, push]
    seeds: [0, 1]                        # one cell per seed
    episodes: 20                         # per cell
    batch_size: 8                        # envs stepped together in a cell, one batched inference per step
    randomization: {level: 1.0}          # the simulator's RandomizationConfig for every cell
    axes:                                # fields of that config, varied across cells
      light_direction: [0.0, 0.6, 1.2]   # a grid over named values
      camera_position: {range: [0.0, 0.06]}   # seeded random samples of a range
    samples: 4                           # draws per grid point when an axis is a range
    sample_seed: 0

``load_sweep`` checks all of it before any work starts and names the line of
each problem; ``plan_cells`` expands the file into cells, one per (policy,
robot, task, randomization point, seed), each with a key that hashes
everything that decides its results. A policy runs only on the robot it was
trained for: the pairs where a bundle drives another robot are not cells.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import numbers
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from robostral.bundle.card import CARD_FILE, BundleError, read_card, sha256_file
from robots import RobotError, load_robot
from sim.randomization import RandomizationConfig
from sim.tasks import TASKS

SWEEP_SEED_BASE = 20_000_000  # episode seeds of sweeps: apart from collection (0...) and evaluation (10,000,000...)
MAX_EPISODES = 100_000  # per cell: the episode seeds of one sweep seed stay below the next seed's
KEYS = ("name", "policies", "robots", "tasks", "seeds", "episodes", "batch_size", "randomization", "axes", "samples",
        "sample_seed")
_NOMINAL = RandomizationConfig()
AXES = tuple(f.name for f in dataclasses.fields(RandomizationConfig) if f.name != "enabled")


class SweepFileError(ValueError):
    """A sweep file that cannot run; the message names the file and line."""


@dataclass(frozen=True)
class Policy:
    label: str  # the path as the sweep file names it
    path: Path
    name: str
    sha256: str  # of the card, which holds the sha256 of every file of the bundle
    robot: str
    gate: dict | None


@dataclass(frozen=True)
class Axis:
    name: str
    values: tuple[float, ...] = ()  # a grid axis
    low: float = 0.0  # a range axis (values empty): samples drawn in [low, high]
    high: float = 0.0

    @property
    def is_range(self) -> bool:
        return not self.values


@dataclass(frozen=True)
class Sweep:
    name: str
    source: Path
    policies: tuple[Policy, ...]
    robots: tuple[str, ...]
    tasks: tuple[str, ...]
    seeds: tuple[int, ...]
    episodes: int
    batch_size: int
    randomization: dict[str, Any]
    axes: tuple[Axis, ...]
    samples: int
    sample_seed: int


@dataclass(frozen=True)
class Cell:
    """One Ray task: one policy on one robot and task, one randomization point, one seed's episodes."""

    key: str
    policy: str  # label
    robot: str
    task: str
    point: int
    values: dict[str, float]  # the axes' values at this point
    randomization: dict[str, Any]  # the full RandomizationConfig of the cell
    seed: int
    episodes: int
    batch_size: int

    @property
    def episode_seeds(self) -> list[int]:
        """The env seeds of the cell's episodes: the same for every policy and point, so results pair up."""
        start = SWEEP_SEED_BASE + self.seed * MAX_EPISODES
        return list(range(start, start + self.episodes))

    def as_plan(self) -> dict[str, Any]:
        return {"key": self.key, "policy": self.policy, "robot": self.robot, "task": self.task, "point": self.point,
                "values": self.values, "seed": self.seed, "episodes": self.episodes}


def load_sweep(path: str | os.PathLike) -> Sweep:
    """The checked sweep file; SweepFileError naming the line of the first problem."""
    path = Path(path)
    if not path.is_file():
        raise SweepFileError(f"{path}: no such sweep file")
    text = path.read_text()
    try:
        document, root = yaml.safe_load(text), yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as error:
        raise SweepFileError(f"{path}: not valid YAML: {error}") from None
    return _Reader(path, document, root).sweep()


def plan_cells(sweep: Sweep) -> list[Cell]:
    """Every cell of the sweep, in a fixed order: policy, robot, task, point, seed."""
    cells = []
    for policy, robot, task in itertools.product(sweep.policies, sweep.robots, sweep.tasks):
        if policy.robot != robot:
            continue
        for point, values in enumerate(randomization_points(sweep)):
            randomization = {**sweep.randomization, **values}
            for seed in sweep.seeds:
                identity = {"policy": policy.sha256, "robot": robot, "task": task, "axes": values,
                            "randomization": randomization,
                            "seed": seed, "episodes": sweep.episodes, "batch_size": sweep.batch_size}
                key = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:20]
                cells.append(Cell(key, policy.label, robot, task, point, values, randomization, seed,
                                  sweep.episodes, sweep.batch_size))
    return cells


def randomization_points(sweep: Sweep) -> list[dict[str, float]]:
    """The axes' values at each point: the grid's product, each grid point with ``samples`` draws of the ranges."""
    grid = [axis for axis in sweep.axes if not axis.is_range]
    ranges = [axis for axis in sweep.axes if axis.is_range]
    rng = np.random.default_rng(sweep.sample_seed)
    points = []
    for combination in itertools.product(*(axis.values for axis in grid)):
        point = dict(zip((axis.name for axis in grid), combination))
        for _ in range(sweep.samples if ranges else 1):
            points.append({**point, **{axis.name: _draw(rng, axis) for axis in ranges}})
    return [{axis.name: point[axis.name] for axis in sweep.axes} for point in points]  # in the file's axis order


def _draw(rng: np.random.Generator, axis: Axis) -> float:
    if _is_integer_field(axis.name):
        return int(rng.integers(int(axis.low), int(axis.high) + 1))
    return round(float(rng.uniform(axis.low, axis.high)), 6)


def _is_integer_field(name: str) -> bool:
    return isinstance(getattr(_NOMINAL, name), int)


class _Reader:
    """Turns the parsed YAML into a Sweep, with the node tree at hand to name lines."""

    def __init__(self, path: Path, document: Any, root: yaml.Node | None) -> None:
        self.path, self.document, self.root = path, document, root

    def fail(self, message: str, *where: str | int) -> SweepFileError:
        return SweepFileError(f"{self.path}:{self._line(where)}: {message}")

    def _line(self, where: tuple[str | int, ...]) -> int:
        """The 1-based line of the node at key path ``where`` (of its nearest existing parent if it is absent)."""
        node = self.root
        for step in where:
            child = None
            if isinstance(node, yaml.MappingNode):
                child = next((value for key, value in node.value if key.value == step), None)
            elif isinstance(node, yaml.SequenceNode) and isinstance(step, int) and step < len(node.value):
                child = node.value[step]
            if child is None:
                break
            node = child
        return node.start_mark.line + 1 if node is not None else 1

    def sweep(self) -> Sweep:
        doc = self.document
        if not isinstance(doc, dict):
            raise self.fail(f"a sweep file is a mapping of {', '.join(KEYS)}; got {type(doc).__name__}")
        unknown = [key for key in doc if key not in KEYS]
        if unknown:
            raise self.fail(f"unknown key {unknown[0]!r}; known keys: {', '.join(KEYS)}", unknown[0])
        for required in ("name", "policies", "tasks", "seeds", "episodes"):
            if required not in doc:
                raise self.fail(f"missing {required!r}")
        name = doc["name"]
        if not isinstance(name, str) or not name.strip():
            raise self.fail("name must be a non-empty string", "name")
        policies = self.policies()
        tasks = self.names("tasks", TASKS)
        robots = self.robots() if "robots" in doc else tuple(dict.fromkeys(p.robot for p in policies))
        for index, robot in enumerate(robots):
            if not any(policy.robot == robot for policy in policies):
                drive = ", ".join(f"{p.label} drives a {p.robot}" for p in policies)
                raise self.fail(f"no policy drives the {robot}: {drive}", "robots", index)
        seeds = self.integers("seeds")
        episodes = self.count("episodes", MAX_EPISODES)
        batch_size = self.count("batch_size", 256, default=8)
        randomization = self.randomization()
        axes = self.axes(randomization)
        samples = self.count("samples", 10_000, default=1)
        if "samples" in doc and not any(axis.is_range for axis in axes):
            raise self.fail("samples is given but no axis is a range: remove it or add {range: [low, high]}",
                            "samples")
        sample_seed = self.count("sample_seed", 2**32, default=0, minimum=0)
        return Sweep(name.strip(), self.path, policies, robots, tasks, seeds, episodes, batch_size, randomization,
                     axes, samples, sample_seed)

    def sequence(self, key: str) -> list:
        value = self.document[key]
        if isinstance(value, (str, int, float)):
            value = [value]
        if not isinstance(value, list) or not value:
            raise self.fail(f"{key} must be a non-empty list", key)
        if len(set(map(str, value))) != len(value):
            raise self.fail(f"{key} lists the same entry twice", key)
        return value

    def policies(self) -> tuple[Policy, ...]:
        policies = []
        for index, label in enumerate(self.sequence("policies")):
            if not isinstance(label, str):
                raise self.fail(f"a policy is a bundle folder path, got {label!r}", "policies", index)
            path = Path(label)
            try:
                card = read_card(path)
            except BundleError as error:
                raise self.fail(f"policy {label!r}: {error}", "policies", index) from None
            robot = card.robot
            try:
                load_robot(robot)
            except RobotError as error:
                raise self.fail(f"policy {label!r}: its card's robot {robot!r}: {error}", "policies", index) from None
            sha256 = sha256_file(path / CARD_FILE)
            twin = next((p.label for p in policies if p.sha256 == sha256), None)
            if twin:
                raise self.fail(f"policy {label!r} is the same bundle as {twin!r} (identical cards)", "policies", index)
            policies.append(Policy(label, path, card.name, sha256, robot, card.gate))
        return tuple(policies)

    def names(self, key: str, known) -> tuple[str, ...]:
        values = self.sequence(key)
        for index, value in enumerate(values):
            if value not in known:
                raise self.fail(f"unknown {key[:-1]} {value!r}; known: {', '.join(known)}", key, index)
        return tuple(values)

    def robots(self) -> tuple[str, ...]:
        """The ``robots`` list: shipped arms by name, or description files (``cell.yaml``) by path."""
        values = self.sequence("robots")
        for index, value in enumerate(values):
            try:
                load_robot(str(value))
            except RobotError as error:
                raise self.fail(f"robot {value!r}: {error}", "robots", index) from None
        return tuple(map(str, values))

    def integers(self, key: str) -> tuple[int, ...]:
        values = self.sequence(key)
        for index, value in enumerate(values):
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 10_000:
                raise self.fail(f"{key} are integers in 0..9999, got {value!r}", key, index)
        return tuple(values)

    def count(self, key: str, maximum: int, default: int | None = None, minimum: int = 1) -> int:
        value = self.document.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
            raise self.fail(f"{key} must be an integer in {minimum}..{maximum}, got {value!r}", key)
        return value

    def randomization(self) -> dict[str, Any]:
        values = self.document.get("randomization", {})
        if not isinstance(values, dict):
            raise self.fail("randomization is a mapping of the simulator's randomization settings", "randomization")
        for key in values:
            if key not in (*AXES, "enabled"):
                raise self.fail(f"unknown randomization setting {key!r}; known: enabled, {', '.join(AXES)}",
                                "randomization", key)
        try:
            return dataclasses.asdict(RandomizationConfig(**values))
        except ValueError as error:
            raise self.fail(str(error), "randomization") from None

    def axes(self, randomization: dict[str, Any]) -> tuple[Axis, ...]:
        spec = self.document.get("axes", {}) or {}
        if not isinstance(spec, dict):
            raise self.fail("axes is a mapping: axis name -> list of values or {range: [low, high]}", "axes")
        axes = []
        for name, value in spec.items():
            if name not in AXES:
                raise self.fail(f"unknown randomization axis {name!r}; known axes: {', '.join(AXES)}", "axes", name)
            axis = self.axis(name, value)
            for sample in (axis.values or (axis.low, axis.high)):
                try:
                    RandomizationConfig(**{**randomization, name: sample})
                except ValueError as error:
                    raise self.fail(str(error), "axes", name) from None
            axes.append(axis)
        return tuple(axes)

    def axis(self, name: str, value: Any) -> Axis:
        if isinstance(value, dict):
            bounds = value.get("range")
            if set(value) != {"range"} or not isinstance(bounds, list) or len(bounds) != 2 \
                    or not all(_is_number(b) for b in bounds) or bounds[0] > bounds[1]:
                raise self.fail(f"axis {name}: a range is {{range: [low, high]}} with low <= high, got {value!r}",
                                "axes", name)
            return Axis(name, low=bounds[0], high=bounds[1])
        if not isinstance(value, list) or not value or not all(_is_number(v) for v in value):
            raise self.fail(f"axis {name}: give a non-empty list of numbers or {{range: [low, high]}}, got {value!r}",
                            "axes", name)
        if len(set(value)) != len(value):
            raise self.fail(f"axis {name} lists the same value twice", "axes", name)
        return Axis(name, values=tuple(value))


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)
