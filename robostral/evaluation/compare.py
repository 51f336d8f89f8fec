"""Two evaluation reports of the same seeds, compared episode by episode.

Episode i of an evaluation is the scene and instruction drawn from its seed, so
two bundles evaluated on the same seeds (the same ``--seed``, robot and
randomization) met the same episodes: their results pair up. Pairing is much
stronger evidence than two success rates side by side, because the episodes
both solve (or both fail) carry no information about which is better; the exact
McNemar test weighs only the episodes one side alone solved. Chains pair by seed
too, and a sign test (the same exact binomial test) weighs the chains where one
side completed more links. Chain links run alone (``--chain-links``) pair by seed
per link, over the seeds whose lead-in the expert completed in both.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from robostral.evaluation.evaluate import CHAIN_TASK, REPORT_FORMAT
from robostral.evaluation.outcome import count_failures
from robostral.stats import Paired, mcnemar_exact
from sim.tasks.chain import CHAIN_LENGTH

COMPARE_FORMAT = "robostral-compare/1"
SPLITS = ("train", "heldout")  # instruction phrasings, as eval reports name them


def read_report(path: Path) -> dict:
    """An eval report: ``report.json`` or the folder holding it; anything else is refused with the reason."""
    path = Path(path)
    file = path / "report.json" if path.is_dir() else path
    if not file.is_file():
        raise FileNotFoundError(f"{path}: no evaluation report here (expected report.json, or the folder with it)")
    try:
        report = json.loads(file.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{file}: not JSON ({error})") from None
    if not isinstance(report, dict) or report.get("format") != REPORT_FORMAT:
        found = report.get("format") if isinstance(report, dict) else type(report).__name__
        raise ValueError(f"{file}: not a `robostral eval` report (format {found!r}, expected {REPORT_FORMAT!r})")
    report["path"] = str(file)
    return report


def compare_reports(baseline: dict, new: dict) -> dict[str, Any]:
    """Pair ``new`` against ``baseline`` per task and phrasing split, pooled, and on chains.

    Refused when the two cannot have met the same episodes: another robot, other randomization, or no seed in common.
    """
    for key, what in (("robot", "robot"), ("randomization", "randomization settings")):
        if baseline[key] != new[key]:
            raise ValueError(f"the reports ran different {what} ({baseline[key]} against {new[key]}): "
                             "their episodes are not the same scenes")
    tasks, pooled = {}, {split: Paired() for split in SPLITS}
    for task in dict.fromkeys([*baseline["tasks"], *new["tasks"]]):
        splits = {}
        for split in SPLITS:
            key = f"episodes/{task}/{split}"
            old, now = _outcomes(baseline, key, "success"), _outcomes(new, key, "success")
            paired = Paired.of(old, now)
            if paired.pairs:
                seeds = old.keys() & now.keys()
                failures = {"baseline": _failures(baseline, key, seeds), "new": _failures(new, key, seeds)}
                splits[split], pooled[split] = {**paired.as_dict(), "failures": failures}, pooled[split] + paired
        if splits:
            tasks[task] = splits
    chains, links = _compare_chains(baseline, new), _compare_links(baseline, new)
    if not tasks and chains is None and not links:
        raise ValueError("the reports share no episode (no task and seed in common): run both with the same --seed")
    return {
        "format": COMPARE_FORMAT,
        "robot": new["robot"],
        "baseline": _identity(baseline),
        "new": _identity(new),
        "tasks": tasks,
        "pooled": {split: paired.as_dict() for split, paired in pooled.items() if paired.pairs},
        "chains": chains,
        "chain_links": links,
    }


def _outcomes(report: dict, key: str, field: str) -> dict[int, Any]:
    return {row["seed"]: row[field] for row in report["episodes"].get(key, [])}


def _failures(report: dict, key: str, seeds: set[int]) -> dict[str, int]:
    """Why the failed episodes among ``seeds`` failed (``outcome.count_failures``; reports written before
    ``robostral eval`` gave reasons have none)."""
    return count_failures(row.get("failure") for row in report["episodes"].get(key, [])
                          if row["seed"] in seeds and not row["success"])


def _compare_links(baseline: dict, new: dict) -> dict[str, dict[str, Any]]:
    """Chain links run alone, paired by seed per link (keyed "1".."5"); links neither report ran are left out."""
    links = {}
    for link in range(1, CHAIN_LENGTH + 1):
        key = f"links/{CHAIN_TASK}/train/{link}"
        paired = Paired.of(_led_in(baseline, key), _led_in(new, key))
        if paired.pairs:
            links[str(link)] = paired.as_dict()
    return links


def _led_in(report: dict, key: str) -> dict[int, bool]:
    """Chain-link outcomes by seed, where the expert's lead-in left the policy a link to attempt."""
    return {row["seed"]: row["success"] for row in report["episodes"].get(key, []) if row["led_in"]}


def _identity(report: dict) -> dict[str, Any]:
    return {**{k: report[k] for k in ("path", "bundle", "bundle_name", "int8", "command")},
            "controller": report.get("controller", "direct")}  # reports before --controller ran direct


def _compare_chains(baseline: dict, new: dict) -> dict[str, Any] | None:
    """Chains by seed: averages over the shared ones and a sign test of more against fewer links completed."""
    old = _outcomes(baseline, f"chains/{CHAIN_TASK}/train", "completed")
    now = _outcomes(new, f"chains/{CHAIN_TASK}/train", "completed")
    seeds = sorted(old.keys() & now.keys())
    if not seeds:
        return None
    more = sum(now[s] > old[s] for s in seeds)
    fewer = sum(now[s] < old[s] for s in seeds)
    return {
        "pairs": len(seeds),
        "baseline_average": sum(old[s] for s in seeds) / len(seeds),
        "new_average": sum(now[s] for s in seeds) / len(seeds),
        "more": more,
        "fewer": fewer,
        "same": len(seeds) - more - fewer,
        "p": mcnemar_exact(fewer, more),
    }
