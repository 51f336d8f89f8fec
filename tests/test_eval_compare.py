"""`robostral compare`: two real evaluations of the session's tiny bundle (fp32 and int8) on the same seeds."""

from __future__ import annotations

import copy
import json

import pytest

from robostral.cli import main
from robostral.evaluation.compare import compare_reports, read_report
from robostral.evaluation.outcome import NOT_RECORDED
from robostral.stats import mcnemar_exact


def _eval(bundle, out, *extra):
    argv = ["eval", "--policy", str(bundle), "--task", "reach,pick_place", "--episodes", "4", "--heldout-episodes",
            "2", "--chains", "2", "--chain-links", "1", "--videos", "0", "--batch-size", "4", "--no-write-card",
            "--out", str(out), *extra]
    assert main(argv) == 0
    return read_report(out)


@pytest.fixture(scope="module")
def reports(pipeline, tmp_path_factory):
    root = tmp_path_factory.mktemp("compare")
    return _eval(pipeline.bundle, root / "fp32"), _eval(pipeline.bundle, root / "int8", "--int8")


def _only(report_a, report_b, key):
    a = {row["seed"]: row["success"] for row in report_a["episodes"][key]}
    b = {row["seed"]: row["success"] for row in report_b["episodes"][key]}
    return sum(a[s] and not b[s] for s in a), sum(b[s] and not a[s] for s in a)


def test_compare_pairs_the_episodes_of_two_evaluations(reports, tmp_path, capsys):
    fp32, int8 = reports
    written = tmp_path / "comparison.json"
    assert main(["compare", fp32["path"], str(tmp_path), "--json", str(written)]) == 2  # a folder, no report in it
    assert "no evaluation report" in capsys.readouterr().err and not written.exists()
    int8_folder = int8["path"].removesuffix("/report.json")
    assert main(["compare", fp32["path"], int8_folder, "--json", str(written)]) == 0
    printed = capsys.readouterr().out
    comparison = json.loads(written.read_text())
    assert comparison["new"]["int8"] and not comparison["baseline"]["int8"]
    for task, episodes in (("reach", 4), ("pick_place", 4)):
        for split, n in (("train", episodes), ("heldout", 2)):
            paired = comparison["tasks"][task][split]
            b, c = _only(fp32, int8, f"episodes/{task}/{split}")
            assert (paired["pairs"], paired["b"], paired["c"]) == (n, b, c)
            assert paired["p"] == mcnemar_exact(b, c)
            summary = int8["tasks"][task] if split == "train" else int8["tasks"][task]["heldout"]
            assert paired["new"]["success_rate"] == summary["success_rate"]
    assert comparison["pooled"]["train"]["pairs"] == 8 and comparison["pooled"]["heldout"]["pairs"] == 4
    chains = comparison["chains"]
    assert chains["pairs"] == 2
    assert chains["baseline_average"] == fp32["chains"]["average_completed"]
    assert chains["new_average"] == int8["chains"]["average_completed"]
    assert "pick_place    heldout" in printed and "chains: 2 paired" in printed
    failed = fp32["tasks"]["pick_place"]["failures"]
    if failed:  # the session's tiny policy fails some: their reasons, baseline -> new
        assert "why the paired episodes failed (baseline -> new):" in printed
        assert comparison["tasks"]["pick_place"]["train"]["failures"]["baseline"] == failed
    for link, paired in comparison["chain_links"].items():
        b, c = _only(fp32, int8, f"links/pick_place/train/{link}")
        assert (paired["pairs"], paired["b"], paired["c"]) == (1, b, c)
    assert list(comparison["chain_links"]) == ["1", "2", "3", "4", "5"] and "chain link 3  train" in printed


def test_the_counts_follow_the_episodes_not_the_rates(reports):
    fp32 = reports[0]
    better = copy.deepcopy(fp32)
    rows = fp32["episodes"]["episodes/pick_place/train"]
    for row in better["episodes"]["episodes/pick_place/train"]:
        row["success"] = not row["success"]  # every episode flips: solved ones fail, failed ones succeed
    for row in better["episodes"]["chains/pick_place/train"]:
        row["completed"] += 1
    for row in better["episodes"]["links/pick_place/train/2"]:
        row["success"], row["led_in"] = True, False  # the expert failed its lead-in: not the policy's episode
    comparison = compare_reports(fp32, better)
    paired = comparison["tasks"]["pick_place"]["train"]
    solved = sum(row["success"] for row in rows)
    assert (paired["b"], paired["c"], paired["pairs"]) == (solved, len(rows) - solved, len(rows))
    assert comparison["tasks"]["reach"]["train"]["b"] == comparison["tasks"]["reach"]["train"]["c"] == 0
    assert comparison["chains"]["more"] == 2 and comparison["chains"]["fewer"] == 0
    assert "2" not in comparison["chain_links"] and comparison["chain_links"]["1"]["pairs"] == 1

    reasons = paired["failures"]  # over the paired episodes: the baseline's failures, then the flipped ones'
    assert sum(reasons["baseline"].values()) == len(rows) - solved and sum(reasons["new"].values()) == solved
    assert reasons["baseline"] == fp32["tasks"]["pick_place"]["failures"]
    assert set(reasons["new"]) == ({NOT_RECORDED} if solved else set())  # flipped by hand: no reason recorded

    earlier = copy.deepcopy(fp32)  # a report written before eval gave failures their reasons
    for row in earlier["episodes"]["episodes/pick_place/train"]:
        del row["failure"]
    failed = len(rows) - solved
    assert compare_reports(earlier, fp32)["tasks"]["pick_place"]["train"]["failures"]["baseline"] == (
        {NOT_RECORDED: failed} if failed else {})

    same = compare_reports(fp32, fp32)
    assert same["pooled"]["train"]["p"] == 1.0 and same["pooled"]["train"]["verdict"] == "no significant change"


def test_reports_that_did_not_meet_the_same_episodes_are_refused(reports, tmp_path, capsys):
    fp32 = reports[0]
    other_robot = {**fp32, "robot": "xarm6"}
    with pytest.raises(ValueError, match="different robot"):
        compare_reports(fp32, other_robot)
    other_scenes = {**fp32, "randomization": {**fp32["randomization"], "level": 0.5}}
    with pytest.raises(ValueError, match="different randomization"):
        compare_reports(fp32, other_scenes)
    elsewhere = copy.deepcopy(fp32)
    for rows in elsewhere["episodes"].values():
        for row in rows:
            row["seed"] += 1000
    with pytest.raises(ValueError, match="share no episode"):
        compare_reports(fp32, elsewhere)

    not_a_report = tmp_path / "card.json"
    not_a_report.write_text(json.dumps({"format": "robostral-sweep-report/1"}))
    assert main(["compare", fp32["path"], str(not_a_report)]) == 2
    assert "not a `robostral eval` report" in capsys.readouterr().err
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    assert main(["compare", str(broken), fp32["path"]]) == 2
    assert "not JSON" in capsys.readouterr().err
