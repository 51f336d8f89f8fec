"""A recipe: the stages that rebuild a shipped policy from a fresh clone, run in order, each resumable.

A recipe file (``recipes/<name>.yaml``) lists stages, each one ``robostral`` command line:
collect, DAgger rounds, training runs, exports. ``robostral recipe run`` runs the stages
not yet done, in order, each as a child process, and keeps a log (``runs/recipes/<name>/log.json``)
of every finished stage: its command, wall and CPU seconds, the device it trained on.

Every command a recipe holds resumes what an interrupted run of it left (collect keeps its
episodes, ``train --resume`` its checkpoints), so a stopped recipe is run again with the same
command and goes on. A stage whose command changed since the log recorded it is run again, and
so is every stage after it: they were made from what it made. ``robostral export --recipe LOG``
copies the log into the bundle's card, so the card names every stage that made the policy.
"""

from __future__ import annotations

import json
import os
import resource
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sim.config import ConfigError, from_dict, yaml_mapping

LOG_ROOT = Path("runs/recipes")
STAGE_KEYS = ("name", "command", "wall_s", "cpu_s", "device")  # what the log keeps of a finished stage
TRAIN = "train"  # the stages a --device option applies to


@dataclass(frozen=True)
class Stage:
    """One step of a recipe: ``command`` is a robostral command line, without the program name."""

    name: str
    command: str

    def __post_init__(self) -> None:
        if not self.name.replace("-", "").replace("_", "").isalnum():
            raise ConfigError(f"stage name must be letters, digits, - and _, got {self.name!r}")
        if not self.words:
            raise ConfigError(f"stage {self.name}: command is empty")

    @property
    def words(self) -> list[str]:
        words = shlex.split(self.command)
        return words[1:] if words[:1] == ["robostral"] else words

    def command_on(self, device: str | None) -> list[str]:
        """The command's words, with ``--device`` for a training stage when a device is asked for.

        ConfigError when the stage names a device of its own: the recipe and the run would disagree.
        """
        words = self.words
        if device is not None and words[0] == TRAIN:
            if any(word == "--device" or word.startswith("--device=") for word in words):
                raise ConfigError(f"stage {self.name} names its own --device; run the recipe without --device, "
                                  "or take it out of the stage")
            words = [*words, "--device", device]
        return words


@dataclass(frozen=True)
class Recipe:
    name: str
    description: str
    stages: tuple[Stage, ...]

    @property
    def log_path(self) -> Path:
        return LOG_ROOT / self.name / "log.json"


def load_recipe(path: str | os.PathLike) -> Recipe:
    """The recipe in YAML file ``path``, checked: a name, and stages with distinct names and a command each."""
    values = yaml_mapping(path, "Recipe")
    unknown = sorted(set(values) - {"name", "description", "stages"})
    if unknown:
        raise ConfigError(f"{path}: Recipe: unknown key(s) {', '.join(unknown)}")
    stages = values.get("stages")
    if not isinstance(stages, list) or not stages:
        raise ConfigError(f"{path}: Recipe: stages must be a list of {{name, command}} mappings")
    built = tuple(from_dict(Stage, stage, source=path) for stage in stages)
    names = [s.name for s in built]
    if len(set(names)) != len(names):
        repeated = sorted({n for n in names if names.count(n) > 1})
        raise ConfigError(f"{path}: Recipe: stage names repeat: {', '.join(repeated)}")
    name = values.get("name")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{path}: Recipe: name must be a non-empty string")
    return Recipe(name, str(values.get("description", "")), built)


def read_log(path: str | os.PathLike) -> dict:
    """A recipe log: ``{"recipe", "stages": [{"name", "command", "wall_s", "cpu_s", "device"}...]}``."""
    path = Path(path)
    if not path.is_file():
        return {"recipe": "", "stages": []}
    try:
        log = json.loads(path.read_text())
        stages = log["stages"]
        if not isinstance(log["recipe"], str) or any(set(STAGE_KEYS) - set(stage) for stage in stages):
            raise ValueError
        for stage in stages:
            float(stage["wall_s"]), float(stage["cpu_s"])
    except (ValueError, KeyError, TypeError):
        raise ValueError(f"{path}: not a recipe log (damaged or edited by hand): delete it to run every stage "
                         "again") from None
    return log


def pending(recipe: Recipe, log: dict) -> list[Stage]:
    """The stages still to run: from the first one the log does not hold with the same command."""
    done = log["stages"]
    for index, stage in enumerate(recipe.stages):
        if index >= len(done) or (done[index]["name"], done[index]["command"]) != (stage.name, stage.command):
            return list(recipe.stages[index:])
    return []


def run_recipe(recipe: Recipe, source: str | os.PathLike, device: str | None = None,
               say: Callable[[str], None] = print) -> dict:
    """Run ``recipe``'s pending stages in order; the log after the last one that finished.

    Raises ``subprocess.CalledProcessError`` for a stage that fails: the stages before it stay done.
    """
    log = read_log(recipe.log_path)
    todo = pending(recipe, log)
    log = {"recipe": str(source), "stages": log["stages"][: len(recipe.stages) - len(todo)]}
    for stage in recipe.stages[: len(recipe.stages) - len(todo)]:
        say(f"[{stage.name}] done before ({_seconds(log, stage.name)})")
    for stage in todo:
        words = stage.command_on(device)
        say(f"[{stage.name}] robostral {shlex.join(words)}")
        before, started = _children_cpu_s(), time.monotonic()
        subprocess.run([sys.executable, "-m", "robostral.cli", *words], check=True)
        log["stages"].append({"name": stage.name, "command": stage.command, "ran": shlex.join(words),
                              "wall_s": round(time.monotonic() - started, 1),
                              "cpu_s": round(_children_cpu_s() - before, 1),
                              "device": device if words[0] == TRAIN and device else "cpu"})
        _write_log(recipe.log_path, log)
        say(f"[{stage.name}] done ({_seconds(log, stage.name)})")
    return log


def totals(log: dict) -> dict[str, float]:
    """Wall and CPU seconds over every stage of a log."""
    return {key: round(sum(s[key] for s in log["stages"]), 1) for key in ("wall_s", "cpu_s")}


def card_recipe(log: dict) -> dict:
    """What a bundle's card keeps of the recipe that made it: the file, each stage's command and time, the sums."""
    if not log["stages"]:
        raise ValueError("the recipe log holds no finished stage: run the recipe (robostral recipe run) first")
    return {"file": log["recipe"], "stages": [{key: stage[key] for key in STAGE_KEYS} for stage in log["stages"]],
            **totals(log)}


def _seconds(log: dict, name: str) -> str:
    stage = next(s for s in log["stages"] if s["name"] == name)
    return f"{stage['wall_s']:.0f} s wall, {stage['cpu_s']:.0f} s CPU"


def _children_cpu_s() -> float:
    """CPU seconds, user and system, of every finished child process (and theirs) of this one."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _write_log(path: Path, log: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(log, indent=2) + "\n")
    partial.replace(path)  # a crash mid-write leaves the last good log

