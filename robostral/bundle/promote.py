"""The ``policies/`` folder: only verified bundles that pass their card's gate land there, whole or not at all.

``promote`` verifies a bundle (hashes, and the signature where keys are
trusted), judges its evaluation against the gate in its card, and copies the
card, its signature and the files the card lists into ``policies/NAME/``
through a staging folder renamed into place, so a failed copy leaves nothing
half-written. ``list_policies`` says, for each promoted bundle, what it drives,
how it scored and whether it still verifies.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from robostral.bundle.card import CARD_FILE, SIGNATURE_FILE, BundleError, Card, read_card
from robostral.bundle.gate import judge
from robostral.bundle.model_card import write_model_card
from robostral.bundle.verify import verify_bundle

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
POLICIES_DIR = "policies"  # where promoted bundles live, relative to the working directory


class PromotionRefused(ValueError):
    """A bundle that must not enter ``policies/``; ``reasons`` says why, one line each."""

    def __init__(self, bundle: Path, reasons: list[str]) -> None:
        super().__init__(f"{bundle} not promoted:\n" + "\n".join(f"  {reason}" for reason in reasons))
        self.reasons = reasons


@dataclass(frozen=True)
class PolicyEntry:
    name: str
    robot: str
    evaluation: str  # the key figures, or why there are none
    gate: str  # "pass", "FAIL" or why it cannot be judged
    problem: str  # why the bundle does not verify; "" when it does


def promote(
    bundle: str | os.PathLike,
    name: str,
    policies_dir: str | os.PathLike = POLICIES_DIR,
    trusted_keys: Sequence[str | os.PathLike] | None = None,
    replace: bool = False,
) -> Path:
    """Copy ``bundle`` to ``policies_dir/name`` if it verifies and passes its gate; PromotionRefused otherwise."""
    bundle = Path(bundle)
    if not NAME.fullmatch(name):
        raise ValueError(f"policy name {name!r}: use letters, digits, '.', '_', '-', starting with a letter or digit")
    target = Path(policies_dir) / name
    if target.exists() and not replace:
        raise PromotionRefused(bundle, [f"{target} exists; pass --replace to replace it"])
    card = _judged_card(bundle, trusted_keys)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=target.parent))
    try:
        for file in [CARD_FILE, *card.files, *([SIGNATURE_FILE] if (bundle / SIGNATURE_FILE).is_file() else [])]:
            shutil.copy2(bundle / file, staging / file)
        _judged_card(staging, trusted_keys)  # what lands is what was judged, even if the source changed meanwhile
        write_model_card(staging)
        staging.chmod(0o755)  # mkdtemp made it private
        _swap_into_place(staging, target)
    except OSError as error:  # a full disk, say
        raise PromotionRefused(bundle, [f"copying into {target} failed ({error}); {target} is as it was"]) from error
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _judged_card(bundle: Path, trusted_keys) -> Card:
    try:
        card = verify_bundle(bundle, trusted_keys).card
    except BundleError as error:
        raise PromotionRefused(bundle, [f"does not verify: {error}"]) from None
    verdict = judge(card)
    if not verdict.passed:
        raise PromotionRefused(bundle, ["the gate in its card is not met:", *verdict.reasons])
    return card


def _swap_into_place(staging: Path, target: Path) -> None:
    """Rename ``staging`` to ``target``; an existing ``target`` is set aside first and put back on failure."""
    if not target.exists():
        os.replace(staging, target)
        return
    previous = staging.with_name(staging.name + ".previous")
    os.replace(target, previous)
    try:
        os.replace(staging, target)
    except OSError:
        os.replace(previous, target)
        raise
    shutil.rmtree(previous)


def list_policies(
    policies_dir: str | os.PathLike = POLICIES_DIR, trusted_keys: Sequence[str | os.PathLike] | None = None
) -> list[PolicyEntry]:
    """One entry per bundle folder in ``policies_dir`` (staging folders, named with a leading dot, skipped)."""
    root = Path(policies_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"no policies folder at {root}")
    return [_entry(folder, trusted_keys) for folder in sorted(root.iterdir()) if _is_bundle_folder(folder)]


def _is_bundle_folder(path: Path) -> bool:
    return path.is_dir() and not path.name.startswith(".")


def _entry(folder: Path, trusted_keys) -> PolicyEntry:
    problem = ""
    try:
        card = verify_bundle(folder, trusted_keys).card
    except BundleError as error:
        problem = str(error)
        try:
            card = read_card(folder)
        except BundleError:
            return PolicyEntry(folder.name, "?", "no readable card", "?", problem)
    verdict = judge(card)
    gate = "pass" if verdict.passed else "FAIL" if card.evaluation else "not evaluated"
    gate += f" ({card.gate_name or 'production'})"
    return PolicyEntry(folder.name, card.robot, evaluation_summary(card), gate, problem)


def evaluation_summary(card: Card) -> str:
    """The mean success, ``task success (ci_low..ci_high, n)`` per task and the chains result, or "not evaluated"."""
    evaluation = card.evaluation or {}
    tasks = evaluation.get("tasks") or {}
    if not tasks:
        return "not evaluated"
    parts = [f"{task} {_figures(result)}" for task, result in sorted(tasks.items())]
    if isinstance(evaluation.get("mean_success_rate"), float):
        parts.insert(0, f"mean {evaluation['mean_success_rate']:.2f}")
    chains = evaluation.get("chains") or {}
    if isinstance(chains.get("average_completed"), float):
        parts.append(f"chains {chains['average_completed']:.2f}/{chains.get('length', '?')}")
    return ", ".join(parts)


def _figures(result: dict) -> str:
    try:
        rate, low, high = (float(result[key]) for key in ("success_rate", "ci_low", "ci_high"))
        return f"{rate:.2f} ({low:.2f}..{high:.2f}, n={int(result['episodes'])})"
    except (KeyError, TypeError, ValueError):
        return f"unreadable result {result!r}"


def format_table(entries: list[PolicyEntry]) -> str:
    """The ``robostral policies list`` table: one row per bundle, then why any bundle does not verify."""
    header = ("NAME", "ROBOT", "VERIFIES", "GATE", "EVALUATION (success, 95% CI, episodes)")
    rows = [(e.name, e.robot, "no" if e.problem else "yes", e.gate, e.evaluation) for e in entries]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header) - 1)]
    lines = ["  ".join([*(cell.ljust(width) for cell, width in zip(row, widths)), row[-1]]) for row in [header, *rows]]
    lines += [f"{e.name}: {e.problem}" for e in entries if e.problem]
    return "\n".join(lines)
