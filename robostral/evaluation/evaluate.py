"""`robostral eval` as a library call: run a bundle on every selected task and on chains, write the report.

Seeds: episode i of every task (and chain i, and chain link i) uses seed ``seed + i``, with
``seed`` 10,000,000 by default (``EVAL_SEED_BASE``). Dataset collection draws
seeds 0, 1, 2, ... from its own ``--seed`` (default 0), so evaluation scenes are
never training scenes; when the training dataset named in the card is on this
machine, its (task, seed) pairs are checked and an overlap is refused. Held-out
phrasing episodes reuse the seeds of the first episodes: the same scenes, only
the wording differs, a paired comparison.
"""

from __future__ import annotations

import json
import os
import time
from collections import deque
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import pyarrow.parquet as pq
from tqdm import tqdm

from robostral.bundle.card import SIGNATURE_FILE, Card, read_card, write_card
from robostral.bundle.gate import judge_evaluation
from robostral.bundle.model_card import write_model_card
from robostral.data.layout import EPISODES_PATH
from robostral.evaluation.report import (
    plot_report,
    summarize_chains,
    summarize_links,
    task_summary,
    write_markdown,
)
from robostral.evaluation.rollouts import ChainResult, evaluate_chain_links, evaluate_chains, evaluate_episodes
from robostral.evaluation.supervised import CONTROLLERS
from robostral.figures import draw_or_warn
from robostral.runtime import PolicyRuntime
from robostral.video import label, mosaic, write_video
from robostral.workers import WorkerPool
from sim.randomization import RandomizationConfig
from sim.tasks import TASKS
from sim.tasks.chain import CHAIN_LENGTH

EVAL_SEED_BASE = 10_000_000
REPORT_FORMAT = "robostral-eval/1"
CHAIN_TASK = "pick_place"  # chains are pick-and-place links: run when pick_place is evaluated
HOLD_LAST_FRAME = 20  # video frames showing the verdict at the end of a clip


@dataclass(frozen=True)
class EvalConfig:
    bundle: Path
    tasks: tuple[str, ...] = tuple(TASKS)
    robot: str | None = None  # None: the card's robot
    episodes: int = 200  # per task, train phrasings
    heldout_episodes: int | None = None  # per task, held-out phrasings; None: as many as ``episodes``
    chains: int | None = None  # None: episodes // 4 (at least 1); 0: none
    chain_links: int = 0  # per link of a chain, the expert leading in through the links before it; 0: none
    seed: int = EVAL_SEED_BASE
    batch_size: int = 8  # envs stepped together per process
    workers: int = 1  # processes
    int8: bool = False
    controller: str = "direct"  # how targets reach the arm: direct, or through the supervisor (linear, smooth)
    videos: int = 4  # recorded episodes per task (one mosaic each) and 1 chain; 0: none
    out: Path | None = None  # None: runs/eval/<bundle name>
    command: str = ""

    def __post_init__(self) -> None:
        unknown = [t for t in self.tasks if t not in TASKS]
        if unknown or not self.tasks:
            raise ValueError(f"unknown task(s) {', '.join(unknown) or '(none given)'}; known: {', '.join(TASKS)}")
        for name in ("episodes", "batch_size", "workers"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.controller not in CONTROLLERS:
            raise ValueError(f"controller must be one of {', '.join(CONTROLLERS)}, got {self.controller!r}")
        for name in ("heldout_episodes", "chains", "chain_links", "videos", "seed"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"{name} must be >= 0, got {value}")

    @property
    def heldout_count(self) -> int:
        return self.episodes if self.heldout_episodes is None else self.heldout_episodes

    @property
    def chain_count(self) -> int:
        if CHAIN_TASK not in self.tasks:
            return 0
        return max(1, self.episodes // 4) if self.chains is None else self.chains


@dataclass(frozen=True)
class Job:
    """A share of one evaluation: one kind (episodes, chains or links), task and phrasing split, some seeds."""

    kind: str
    task: str
    split: str
    seeds: tuple[int, ...]
    record: tuple[int, ...] = field(default=())
    link: int = 0  # the chain link, for kind links

    @property
    def key(self) -> tuple[str, ...]:
        """Where its results are filed: kind, task, split, and the link for chain links."""
        return (self.kind, self.task, self.split, *([str(self.link)] if self.link else []))

    def run(self, policy: PolicyRuntime, robot: str, batch_size: int, controller: str, tick) -> list:
        options = {"instructions": self.split, "batch_size": batch_size, "record": self.record, "progress": tick,
                   "controller": controller}
        if self.kind == "chains":
            return evaluate_chains(policy, robot, self.seeds, **options)
        if self.kind == "links":
            return evaluate_chain_links(policy, robot, self.seeds, self.link, **options)
        return evaluate_episodes(policy, self.task, robot, self.seeds, **options)


def evaluate(config: EvalConfig, progress: bool = True) -> dict:
    """Run the whole evaluation, write report.json, then the videos, the chart and report.md; return the report.

    A video or the chart that cannot be made is a warning (FigureWarning), and the report says it is missing.
    """
    start = time.monotonic()
    card = read_card(config.bundle)
    robot = config.robot or card.robot
    if robot != card.robot:
        raise ValueError(f"{config.bundle} drives a {card.robot}; it cannot be evaluated on a {robot}")
    _check_seeds_unseen(card, config)
    out = Path(config.out or Path("runs/eval") / card.name)
    jobs = _jobs(config)
    results = _run_jobs(config, robot, jobs, progress)
    report = _report(config, card, robot, results)
    report["wall_time_s"] = round(time.monotonic() - start, 1)
    report["out"] = str(out)
    out.mkdir(parents=True, exist_ok=True)
    report["videos"], report["chart"] = [], None  # below, once made
    report["gate"] = asdict(judge_evaluation(card.gate, card_evaluation(report)))  # the card's gate
    _write_json(report, out)  # the numbers first: a video or chart that fails below cannot lose the run
    videos = draw_or_warn(f"the videos of {out}", lambda: _write_videos(results, out / "videos")) or []
    report["videos"] = [str(p.relative_to(out)) for p in videos]
    chart = draw_or_warn(f"the chart of {out}", lambda: plot_report(report, out / "success.png"))
    report["chart"] = str(chart.relative_to(out)) if chart else None
    _write_json(report, out)  # now with the videos and the chart
    write_markdown(report, out / "report.md")
    return report


def card_evaluation(report: dict) -> dict:
    """The summary a card keeps under ``evaluation`` (what the gate reads)."""
    tasks = {}
    for task, t in report["tasks"].items():
        tasks[task] = {key: t[key] for key in ("success_rate", "ci_low", "ci_high", "episodes", "mean_length")}
        tasks[task]["heldout_success_rate"] = t["heldout"]["success_rate"] if t["heldout"] else None
        tasks[task]["distractor_choice_rate"] = t["distractor"]["rate"] if t["distractor"] else None
    chains = report["chains"]
    return {
        "tasks": tasks,
        "mean_success_rate": report["mean_success_rate"],
        "chains": {k: chains[k] for k in ("episodes", "length", "average_completed")} if chains else None,
        "chain_links": {link: block["success_rate"] for link, block in report["chain_links"].items()}
        if report.get("chain_links") else None,
        "robot": report["robot"],
        "runtime": "onnxruntime int8" if report["int8"] else "onnxruntime fp32",
        "command": report["command"],
        "seed": report["seeds"]["first"],
    }


def record_in_card(bundle: Path, report: dict) -> bool:
    """Write the evaluation summary into the bundle's card; True if that made its signature stale."""
    card = read_card(bundle)
    card.evaluation = card_evaluation(report)
    write_card(bundle, card)
    write_model_card(bundle)
    return (Path(bundle) / SIGNATURE_FILE).is_file()


def _jobs(config: EvalConfig) -> list[Job]:
    seeds = tuple(range(config.seed, config.seed + config.episodes))
    record = seeds[: config.videos]
    jobs = []
    for task in config.tasks:
        jobs.append(Job("episodes", task, "train", seeds, record))
        if config.heldout_count:
            held = tuple(range(config.seed, config.seed + config.heldout_count))
            jobs.append(Job("episodes", task, "heldout", held))
    if config.chain_count:
        chain_seeds = tuple(range(config.seed, config.seed + config.chain_count))
        jobs.append(Job("chains", CHAIN_TASK, "train", chain_seeds, chain_seeds[: min(1, config.videos)]))
    link_seeds = tuple(range(config.seed, config.seed + config.chain_links))
    jobs += [Job("links", CHAIN_TASK, "train", link_seeds, link=k) for k in range(1, CHAIN_LENGTH + 1) if link_seeds]
    return jobs


def _check_seeds_unseen(card: Card, config: EvalConfig) -> None:
    """Refuse evaluation seeds the training dataset used for the same task (checked when it is on this machine)."""
    dataset = card.dataset
    path = Path(dataset) / EPISODES_PATH if dataset else None
    if path is None or not path.is_file():
        return
    used = pq.read_table(path, columns=["sim_task", "seed"]).to_pylist()
    last = _last_seed(config) + 1
    scenes = {*config.tasks, *(["chain"] if config.chain_count or config.chain_links else [])}  # chain: its scene
    clash = sorted({(row["sim_task"], row["seed"]) for row in used
                    if row["sim_task"] in scenes and config.seed <= row["seed"] < last})
    if clash:
        shown = ", ".join(f"{task} {seed}" for task, seed in clash[:5])
        raise ValueError(f"evaluation seeds {config.seed}..{last - 1} include training episodes of {dataset} "
                         f"({shown}{', ...' if len(clash) > 5 else ''}); choose another --seed")


def _run_jobs(config: EvalConfig, robot: str, jobs: list[Job], progress: bool) -> dict[tuple, list]:
    """Results per (kind, task, split), in seed order, from this process or from worker processes."""
    total = sum(len(job.seeds) for job in jobs)
    name = Path(config.bundle).name
    runtime = PolicyRuntime(config.bundle, int8=config.int8)  # a bad bundle is refused here, before any worker
    with tqdm(total=total, desc=f"eval {name}", unit="ep", disable=not progress, smoothing=0.05) as bar:
        if config.workers == 1:
            return {j.key: j.run(runtime, robot, config.batch_size, config.controller, bar.update) for j in jobs}
        del runtime  # each worker loads its own
        shares = [share for job in jobs for share in _split(job, config.workers)]
        done = _run_in_workers(config, robot, shares, bar)
    merged: dict[tuple, list] = {}
    for share, results in zip(shares, done):
        merged.setdefault(share.key, []).extend(results)
    return merged


def _split(job: Job, parts: int) -> list[Job]:
    """``job`` as up to ``parts`` jobs over contiguous runs of its seeds."""
    size = -(-len(job.seeds) // parts)
    pieces = [job.seeds[i : i + size] for i in range(0, len(job.seeds), size)]
    return [replace(job, seeds=p, record=tuple(s for s in job.record if s in p)) for p in pieces]


def _run_in_workers(config: EvalConfig, robot: str, shares: list[Job], bar: tqdm) -> list[list]:
    threads = max(1, (os.cpu_count() or 1) // config.workers)
    args = (config.bundle, config.int8, threads, robot, config.batch_size, config.controller)
    with WorkerPool(_policy_runner, args, config.workers, "evaluation") as pool:
        return [results for _, results in pool.run(deque(shares), on_tick=bar.update)]


def _policy_runner(bundle, int8: bool, threads: int, robot: str, batch_size: int, controller: str):
    """In a worker: load the bundle once; each job is a share of episodes run with it."""
    runtime = PolicyRuntime(bundle, threads=threads, int8=int8)
    return lambda share, tick: share.run(runtime, robot, batch_size, controller, tick)


def _last_seed(config: EvalConfig) -> int:
    return config.seed + max(config.episodes, config.heldout_count, config.chain_count, config.chain_links) - 1


def _report(config: EvalConfig, card: Card, robot: str, results: dict[tuple, list]) -> dict:
    tasks = {task: task_summary(results[("episodes", task, "train")], results.get(("episodes", task, "heldout"), []))
             for task in config.tasks}
    rates = [t["success_rate"] for t in tasks.values()]
    chains = results.get(("chains", CHAIN_TASK, "train"))
    return {
        "format": REPORT_FORMAT,
        "bundle": str(Path(config.bundle).resolve()),
        "bundle_name": card.name,
        "robot": robot,
        "int8": config.int8,
        "controller": config.controller,
        "command": config.command,
        "seeds": {
            "first": config.seed,
            "last": _last_seed(config),
            "rule": "episode i of every task, its held-out phrasing twin, chain i and chain link i use seed "
                    "first + i",
        },
        "randomization": asdict(RandomizationConfig()),
        "batch_size": config.batch_size,
        "workers": config.workers,
        "tasks": tasks,
        "mean_success_rate": sum(rates) / len(rates),
        "chains": summarize_chains(chains) if chains else None,
        "chain_links": summarize_links([results[key] for key in sorted(results) if key[0] == "links"])
        if config.chain_links else None,
        "episodes": {"/".join(key): [r.as_dict() for r in runs] for key, runs in results.items()},
    }


def _write_json(report: dict, out: Path) -> None:
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")


def _write_videos(results: dict[tuple, list], folder: Path) -> list[Path]:
    """One MP4 per task (a mosaic of its recorded episodes) and one of the recorded chain."""
    written = []
    for (kind, task, *_split_and_link), runs in results.items():
        clips = [_with_verdict(r) for r in runs if r.frames]
        if clips:
            name = "chain" if kind == "chains" else task
            written.append(write_video(folder / f"{name}.mp4", mosaic(clips, columns=min(2, len(clips))), fps=20))
    return written


def _with_verdict(result) -> list:
    """The clip, its last frame held with the outcome written over the instruction."""
    if isinstance(result, ChainResult):
        verdict = f"{result.completed} of {CHAIN_LENGTH} links completed"
    else:
        verdict = f"{'SUCCESS' if result.success else 'FAILED'} after {result.steps} steps"
    return [*result.frames, *[label(result.frames[-1], verdict)] * HOLD_LAST_FRAME]
