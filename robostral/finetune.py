"""`robostral finetune`: demonstrations recorded on the cell -> a better deployed policy, or the old one kept.

The steps are a recipe (``robostral.recipe``), written to ``<out>/recipe.yaml`` and run by the recipe
runner, so an interrupted fine-tune resumes where it stopped and every step is one `robostral` command
anyone can rerun:

1. ``merge``: the demonstrations beside episodes of the data the deployed bundle was trained on
   (``replay`` of them per demonstration, drawn with ``seed``), so that old skills are not forgotten;
2. ``train``: fine-tune from the deployed bundle (``train --init-from``) on that dataset;
3. ``export`` the candidate bundle, judged by the deployed bundle's gate;
4. ``eval`` the deployed bundle and the candidate on the same tasks and seeds, and ``compare`` them.

The candidate is promoted (``policies/<name>``) only if its gate passes and no task, phrasing split
or chain measure got significantly worse (paired exact McNemar test, ``robostral.stats``);
``verdict`` says why or why not.
"""

from __future__ import annotations

import json
import math
import os
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from robostral.bundle.card import Card, read_card
from robostral.bundle.gate import judge
from robostral.data.layout import IMAGE_KEYS
from robostral.data.reader import Dataset, load_dataset
from robostral.recipe import Recipe, Stage

DEFAULT_OUT = Path("runs/finetune")
EVAL_SEED = 5_000_000  # far above collection and DAgger seeds: the evaluation meets scenes no data holds


class FinetuneError(ValueError):
    """The fine-tune cannot start: its demonstrations, deployed bundle or original data do not fit together."""


@dataclass(frozen=True)
class FinetuneConfig:
    demonstrations: str  # a dataset: the pendant's Demonstrate screen, `dataset from-bag` or `collect`
    deployed: str  # the bundle the cell runs now: it is the starting point and the baseline
    name: str = ""  # the folder under policies/ a promoted candidate goes to; "" = the deployed bundle's
    out: str = ""  # "" = runs/finetune/<name>
    original: str = ""  # the deployed bundle's training data; "" = the dataset its card names
    replay: float = 1.0  # original episodes merged in per demonstration episode (0: demonstrations alone)
    steps: int = 2000
    batch_size: int = 64
    lr: float = 1e-4
    episodes: int = 50  # evaluation episodes per task, for the deployed bundle and the candidate alike
    tasks: tuple[str, ...] = ()  # () = the tasks the deployed bundle's card was evaluated on
    seed: int = 0
    eval_options: tuple[str, ...] = ()  # more `robostral eval` options for both evaluations, e.g. --workers 1

    def __post_init__(self) -> None:
        if not (math.isfinite(self.replay) and self.replay >= 0):
            raise FinetuneError(f"replay must be a number >= 0 of original episodes per demonstration, "
                                f"got {self.replay}")
        for name in ("steps", "batch_size", "episodes"):
            if getattr(self, name) < 1:
                raise FinetuneError(f"{name} must be at least 1, got {getattr(self, name)}")


@dataclass(frozen=True)
class Plan:
    """What a fine-tune will do: its recipe, and the folders and names it writes."""

    recipe: Recipe
    out: Path
    name: str
    candidate: Path
    comparison: Path
    original_episodes: int


def plan(config: FinetuneConfig) -> Plan:
    """The recipe of ``config``, its train config written under ``out``; FinetuneError where inputs disagree."""
    deployed = read_card(config.deployed)
    demonstrations = load_dataset(config.demonstrations)
    _check_fits(demonstrations, deployed, config.demonstrations)
    name = config.name or Path(config.deployed).resolve().name
    out = Path(config.out or DEFAULT_OUT / name)
    sources = [config.demonstrations]
    count = round(config.replay * len(demonstrations.episodes))
    if count:
        original = _original(config, deployed)
        rng = np.random.default_rng(config.seed)
        chosen = sorted(rng.choice(len(original.episodes), size=min(count, len(original.episodes)), replace=False))
        sources.append(f"{original.root}:{','.join(str(i) for i in chosen)}")
        count = len(chosen)
    tasks = config.tasks or tuple(sorted((deployed.evaluation or {}).get("tasks") or ()))
    if not tasks:
        raise FinetuneError(f"{config.deployed} has no evaluation to compare with: name the tasks (--task)")
    out.mkdir(parents=True, exist_ok=True)
    train_config = out / "train.yaml"
    train_config.write_text(yaml.safe_dump({
        "dataset": str(out / "dataset"), "out": str(out / "train"), "init_from": str(config.deployed),
        "steps": config.steps, "batch_size": config.batch_size, "lr": config.lr,
        "warmup_steps": min(200, config.steps // 10), "seed": config.seed,
        "checkpoint_every": max(1, min(1000, config.steps)), "eval_every": max(1, min(1000, config.steps)),
    }, sort_keys=False))
    candidate, evaluations = out / "candidate", out / "eval"
    evaluate = ["eval", "--episodes", str(config.episodes), "--seed", str(EVAL_SEED + config.seed),
                *(word for task in tasks for word in ("--task", task)), *config.eval_options]
    gate = deployed.gate_name or "production"
    stages = (
        Stage("merge", _join(["dataset", "merge", *sources, "--out", str(out / "dataset")])),
        Stage("train", _join(["train", "--config", str(train_config), "--resume"])),
        Stage("export", _join(["export", "--checkpoint", str(out / "train"), "--out", str(candidate),
                               "--gate", gate])),
        Stage("eval-deployed", _join([*evaluate, "--policy", str(config.deployed), "--out",
                                      str(evaluations / "deployed"), "--no-write-card"])),
        Stage("eval-candidate", _join([*evaluate, "--policy", str(candidate), "--out",
                                       str(evaluations / "candidate")])),
        Stage("compare", _join(["compare", str(evaluations / "deployed"), str(evaluations / "candidate"),
                                "--json", str(out / "compare.json")])),
    )
    recipe = Recipe(f"finetune-{name}", f"fine-tune {config.deployed} on {config.demonstrations}", stages)
    (out / "recipe.yaml").write_text(yaml.safe_dump(
        {"name": recipe.name, "description": recipe.description,
         "stages": [{"name": s.name, "command": s.command} for s in stages]}, sort_keys=False, width=120))
    return Plan(recipe, out, name, candidate, out / "compare.json", count)


@dataclass(frozen=True)
class Verdict:
    promote: bool
    reasons: list[str]  # the gate's lines, then every measure that got significantly worse


def verdict(candidate: Card, comparison: dict[str, Any]) -> Verdict:
    """Promote ``candidate`` only if its gate passes and nothing in ``comparison`` got significantly worse."""
    gate = judge(candidate)
    reasons = [f"gate {candidate.gate_name}: {line}" for line in gate.reasons]
    worse = [f"{task} ({split}): significantly worse, {paired['baseline']} -> {paired['new']} (p {paired['p']:.3g})"
             for task, splits in comparison["tasks"].items() for split, paired in splits.items()
             if paired["verdict"] == "worse"]
    chains = comparison.get("chains") or {}
    worse += [f"chains: {key} significantly worse (p {value['p']:.3g})" for key, value in chains.items()
              if isinstance(value, dict) and value.get("verdict") == "worse"]
    if not worse:
        reasons.append("nothing got significantly worse than the deployed bundle")
    return Verdict(gate.passed and not worse, reasons + worse)


def read_comparison(path: str | os.PathLike) -> dict[str, Any]:
    return json.loads(Path(path).read_text())


def _original(config: FinetuneConfig, deployed: Card) -> Dataset:
    """The data the deployed bundle learned from, checked to be of the demonstrations' kind."""
    folder = config.original or deployed.dataset
    if not folder or not Path(folder).is_dir():
        raise FinetuneError(
            f"the data {config.deployed} was trained on ({folder or 'not named in its card'}) is not here: pass "
            "--original DATASET (its recipe's collect stages rebuild it), or --replay 0 to fine-tune on the "
            "demonstrations alone, at the risk of forgetting what they do not show")
    original = load_dataset(folder)
    _check_fits(original, deployed, folder)
    return original


def _check_fits(dataset: Dataset, card: Card, where: str) -> None:
    """FinetuneError unless ``dataset`` has the robot, joints, rate and cameras ``card``'s network reads."""
    problems = []
    if dataset.robot != card.robot or dataset.joint_names != list(card.joint_names):
        problems.append(f"robot {dataset.robot} with joints {dataset.joint_names}, the bundle's is {card.robot} "
                        f"with {list(card.joint_names)}")
    if dataset.fps != card.control_hz:
        problems.append(f"{dataset.fps} frames per second, the bundle runs at {card.control_hz:g} Hz")
    size = dataset.features[IMAGE_KEYS["image"]]["shape"][0]
    if sorted(dataset.camera_sources) != sorted(card.cameras) or size != card.image_size:
        problems.append(f"cameras {sorted(dataset.camera_sources)} at {size} px, the bundle reads "
                        f"{sorted(card.cameras)} at {card.image_size} px")
    if problems:
        raise FinetuneError(f"{where} does not fit {card.name}: {'; '.join(problems)}")


def _join(words: list[str]) -> str:
    return shlex.join(words)
