"""bench/policy_targets.py reads a card's evaluation and says, target by target, what is met."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import copy_bundle

from robostral.bundle.card import read_card, write_card

ROOT = Path(__file__).resolve().parent.parent


def test_policy_targets_reports_each_target_from_the_card(pipeline, tmp_path):
    bundle = copy_bundle(pipeline.bundle, tmp_path / "bundle")
    script = [sys.executable, str(ROOT / "bench" / "policy_targets.py"), "--bundle", str(bundle), "--no-write"]
    unevaluated = subprocess.run(script, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert unevaluated.returncode == 2 and "run `robostral eval" in unevaluated.stderr

    task = {"ci_low": 0.9, "ci_high": 0.99, "episodes": 200, "mean_length": 50.0, "distractor_choice_rate": 0.97}
    card = read_card(bundle)
    card.evaluation = {
        "tasks": {"pick_place": {**task, "success_rate": 0.96, "heldout_success_rate": 0.80},
                  "reach": {**task, "success_rate": 0.99, "heldout_success_rate": 0.70,
                            "distractor_choice_rate": None}},
        "mean_success_rate": 0.975, "chains": {"episodes": 50, "length": 5, "average_completed": 3.5},
        "robot": "panda", "runtime": "onnxruntime fp32", "command": "robostral eval ...", "seed": 10_000_000,
    }
    write_card(bundle, card)
    result = subprocess.run(script, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    rows = {line.split("|")[1].strip(): line for line in result.stdout.splitlines() if line.startswith("| ")}
    assert rows["pick_place success"].endswith("| met |")
    assert "75.0%" in rows["held-out phrasings (mean over the tasks)"] and "NOT met" in rows[
        "held-out phrasings (mean over the tasks)"]
    assert "3.50" in rows["chains of 5: average completed"] and "NOT met" in rows["chains of 5: average completed"]
    assert "gate in the card: **production** (passed)" in result.stdout
    assert "started from" not in result.stdout  # a run from scratch

    card.training["initialized_from"] = {"checkpoint": "runs/a/step-0085000", "command": "robostral train --x",
                                         "steps": 85_000, "elapsed_s": 6000.0}
    write_card(bundle, card)
    result = subprocess.run(script, cwd=ROOT, capture_output=True, text=True, timeout=120)
    minutes = round(100 + card.training["wall_time_s"] / 60)
    assert f"started from `runs/a/step-0085000` (85,000 steps in 100 min, by `robostral train --x`): 85,060 steps " \
           f"in {minutes} min in all" in result.stdout

    card.training["initialized_from"] = {"bundle": "policies/a", "command": "robostral train --y",
                                         "steps": 85_000, "elapsed_s": 6000.0}
    write_card(bundle, card)
    result = subprocess.run(script, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert "started from `policies/a` (85,000 steps in 100 min, by `robostral train --y`)" in result.stdout
