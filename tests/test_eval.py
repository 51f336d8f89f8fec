"""`robostral eval` on a real (tiny, untrained) bundle: real ONNX Runtime, real PyBullet, real files.

The bundle comes from the session's ``pipeline`` fixture (tests/conftest.py); every
test that lets eval write the card works on a copy.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import replace

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from conftest import copy_bundle
from PIL import Image

from robostral.bundle.card import read_card, write_card
from robostral.bundle.gate import judge
from robostral.cli import main
from robostral.data.layout import EPISODES_PATH
from robostral.evaluation import EVAL_SEED_BASE, EvalConfig, evaluate, evaluate_episodes
from robostral.evaluation.outcome import FAILURES
from robostral.figures import FigureWarning
from robostral.runtime import PolicyRuntime
from robostral.stats import wilson_interval

TASKS = ("reach", "pick_place")


@pytest.fixture(scope="module")
def evaluated(pipeline, tmp_path_factory):
    """One CLI run: 3 episodes per task, 2 with held-out phrasings, 1 chain, each chain link once, 1 video per task."""
    root = tmp_path_factory.mktemp("eval")
    bundle = root / "bundle"
    copy_bundle(pipeline.bundle, bundle)
    out, copy = root / "out", root / "elsewhere" / "report.json"
    argv = ["eval", "--policy", str(bundle), "--task", "reach", "--task", "pick_place", "--episodes", "3",
            "--heldout-episodes", "2", "--chains", "1", "--chain-links", "1", "--videos", "1",
            "--batch-size", "3",
            "--out", str(out), "--json", str(copy)]
    code = main(argv)
    report = json.loads((out / "report.json").read_text())
    return {"code": code, "bundle": bundle, "out": out, "json": copy, "report": report}


def test_eval_writes_the_report_files(evaluated):
    out, report = evaluated["out"], evaluated["report"]
    assert evaluated["code"] == 0
    assert json.loads(evaluated["json"].read_text()) == report
    table = (out / "report.md").read_text()
    assert table.count("| reach |") == 2  # success, then why the failed episodes failed
    failed = {task: t["failures"] for task, t in report["tasks"].items()}
    assert any(failed.values()), "the session's tiny policy fails some episodes"
    assert "Why the failed episodes failed" in table
    for task, counts in failed.items():  # failed: train / held-out phrasings
        held = report["tasks"][task]["heldout"]["failures"]
        assert f"| {task} | {sum(counts.values())} / {sum(held.values())} |" in table
        assert all(reason in table for reason in counts)
    assert (out / report["chart"]).stat().st_size > 10_000
    assert Image.open(out / report["chart"]).size == (1800, 450)  # three panels: success, chains, why failed
    assert sorted(report["videos"]) == ["videos/chain.mp4", "videos/pick_place.mp4", "videos/reach.mp4"]
    assert all((out / video).stat().st_size > 10_000 for video in report["videos"])


def test_the_report_json_schema(evaluated):
    report = evaluated["report"]
    assert report["format"] == "robostral-eval/1" and report["robot"] == "panda"
    assert report["command"].startswith("robostral eval --policy ")
    assert report["seeds"]["first"] == EVAL_SEED_BASE and report["seeds"]["last"] == EVAL_SEED_BASE + 2
    assert list(report["tasks"]) == list(TASKS)
    for task, block in report["tasks"].items():
        assert {"success_rate", "ci_low", "ci_high", "episodes", "mean_length", "heldout", "distractor"} <= set(block)
        assert block["episodes"] == 3 and block["heldout"]["episodes"] == 2
        seeds = [r["seed"] for r in report["episodes"][f"episodes/{task}/train"]]
        assert seeds == [EVAL_SEED_BASE, EVAL_SEED_BASE + 1, EVAL_SEED_BASE + 2]
    assert report["tasks"]["reach"]["distractor"] is None
    assert set(report["tasks"]["pick_place"]["distractor"]) >= {"rate", "choices", "no_choice"}
    chains = report["chains"]
    assert chains["episodes"] == 1 and chains["length"] == 5 and sum(chains["completed_counts"]) == 1
    assert 0 <= chains["average_completed"] <= 5


def test_report_numbers_agree_with_the_episodes(evaluated):
    report = evaluated["report"]
    for task, block in report["tasks"].items():
        for split, summary in (("train", block), ("heldout", block["heldout"])):
            episodes = report["episodes"][f"episodes/{task}/{split}"]
            successes = sum(e["success"] for e in episodes)
            assert summary["successes"] == successes and summary["success_rate"] == successes / len(episodes)
            assert (summary["ci_low"], summary["ci_high"]) == wilson_interval(successes, len(episodes))
            assert summary["mean_length"] == sum(e["steps"] for e in episodes) / len(episodes)
            failed = [e["failure"] for e in episodes if not e["success"]]
            assert all(reason in FAILURES for reason in failed) and all(e["failure"] is None for e in episodes
                                                                         if e["success"])
            assert summary["failures"] == {reason: failed.count(reason) for reason in FAILURES if reason in failed}
    assert all(e["split"] == "heldout" for e in report["episodes"]["episodes/reach/heldout"])
    for link, block in report["chain_links"].items():
        [episode] = report["episodes"][f"links/pick_place/train/{link}"]
        assert episode["link"] == int(link) and episode["seed"] == EVAL_SEED_BASE
        assert block["episodes"] == int(episode["led_in"]) and block["lead_in_failed"] == 1 - episode["led_in"]
        assert block["successes"] == int(episode["success"] and episode["led_in"])


def test_each_chain_link_is_reported_alone(evaluated):
    links = evaluated["report"]["chain_links"]
    assert list(links) == ["1", "2", "3", "4", "5"]
    assert all(block["lead_in_failed"] == 0 for block in links.values())  # the expert completes its lead-ins
    table = (evaluated["out"] / "report.md").read_text()
    assert "Each chain link alone, the expert completing the links before it:" in table
    assert all(f"| {link} | " in table for link in links)
    card = yaml.safe_load((evaluated["bundle"] / "card.yaml").read_text())
    assert card["evaluation"]["chain_links"] == {link: block["success_rate"] for link, block in links.items()}


def test_the_card_records_the_evaluation_and_still_loads(evaluated):
    card = read_card(evaluated["bundle"])
    evaluation = card.evaluation
    pick_place = evaluation["tasks"]["pick_place"]
    assert set(pick_place) == {"success_rate", "ci_low", "ci_high", "episodes", "mean_length",
                               "heldout_success_rate", "distractor_choice_rate"}
    assert evaluation["chains"]["episodes"] == 1 and evaluation["seed"] == EVAL_SEED_BASE
    verdict = judge(card)
    assert not verdict.passed and verdict.reasons == evaluated["report"]["gate"]["reasons"]
    PolicyRuntime(evaluated["bundle"])  # the card is not among the hashed files: the bundle still verifies


def test_same_seeds_give_the_same_episodes(pipeline):
    runtime = PolicyRuntime(pipeline.bundle)
    seeds = [EVAL_SEED_BASE + 7, EVAL_SEED_BASE + 8, EVAL_SEED_BASE + 9]
    first = evaluate_episodes(runtime, "reach", "panda", seeds, batch_size=2)
    again = evaluate_episodes(runtime, "reach", "panda", seeds, batch_size=2)
    assert [r.as_dict() for r in first] == [r.as_dict() for r in again]
    assert [r.seed for r in first] == seeds


def test_worker_processes_give_the_episodes_one_process_gives(pipeline, tmp_path):
    config = EvalConfig(bundle=pipeline.bundle, tasks=("reach",), episodes=2, heldout_episodes=0, chains=0,
                        videos=0, batch_size=1, out=tmp_path / "one")
    one = evaluate(config, progress=False)
    two = evaluate(replace(config, workers=2, out=tmp_path / "two"), progress=False)
    assert one["episodes"] == two["episodes"] and two["workers"] == 2


def test_a_chart_that_fails_to_draw_loses_nothing_but_the_chart(pipeline, tmp_path, monkeypatch):
    out = tmp_path / "out"

    def broken(report, path):
        assert json.loads((out / "report.json").read_text())["tasks"]  # the numbers are already on disk
        raise ValueError("'yerr' must not contain negative values")

    # robostral.evaluation.evaluate the module, not the function the package exports under that name
    monkeypatch.setattr(importlib.import_module("robostral.evaluation.evaluate"), "plot_report", broken)
    config = EvalConfig(bundle=pipeline.bundle, tasks=("reach",), episodes=2, heldout_episodes=0, chains=0,
                        videos=1, batch_size=2, out=out)
    with pytest.warns(FigureWarning, match="the chart of .* could not be made .*must not contain negative values"):
        report = evaluate(config, progress=False)
    assert report["chart"] is None and report["videos"] == ["videos/reach.mp4"]
    assert json.loads((out / "report.json").read_text()) == report
    assert "(No chart: it could not be drawn.)" in (out / "report.md").read_text()


def test_bad_input_is_refused_with_a_clear_error(pipeline, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["eval", "--policy", str(pipeline.bundle), "--task", "juggle"])
    assert exit_info.value.code == 2 and "unknown task(s) juggle" in capsys.readouterr().err
    with pytest.raises(ValueError, match="unknown task"):
        EvalConfig(bundle=pipeline.bundle, tasks=("juggle",))

    assert main(["eval", "--policy", str(tmp_path / "nowhere")]) == 2
    assert "not a policy bundle" in capsys.readouterr().err

    tampered = tmp_path / "tampered"
    copy_bundle(pipeline.bundle, tampered)
    with open(tampered / "policy.onnx", "r+b") as handle:
        handle.seek(100)
        byte = handle.read(1)
        handle.seek(100)
        handle.write(bytes([byte[0] ^ 0xFF]))
    out = tmp_path / "out"
    assert main(["eval", "--policy", str(tampered), "--episodes", "1", "--workers", "2", "--out", str(out)]) == 2
    assert "tampered" in capsys.readouterr().err and not out.exists()

    assert main(["eval", "--policy", str(pipeline.bundle), "--robot", "xarm6", "--out", str(out)]) == 2
    assert "drives a panda" in capsys.readouterr().err

    assert main(["eval", "--policy", str(pipeline.bundle), "--seed", "0", "--out", str(out)]) == 2
    assert "training episodes" in capsys.readouterr().err and not out.exists()


@pytest.mark.parametrize(
    ("sim_task", "options", "refused"),
    [
        ("reach", {"tasks": ("reach",)}, True),
        ("chain", {"tasks": ("reach",), "chain_links": 2}, True),  # a chain link's scene is the chain env's
        ("chain", {"tasks": ("pick_place",), "chains": 1, "heldout_episodes": 0}, True),
        ("chain", {"tasks": ("reach",)}, False),  # no chain scene evaluated: no clash
    ],
)
def test_evaluation_seeds_a_training_dataset_used_are_refused(pipeline, tmp_path, sim_task, options, refused):
    dataset = tmp_path / "dataset"
    (dataset / EPISODES_PATH).parent.mkdir(parents=True)
    pq.write_table(pa.table({"sim_task": [sim_task] * 3, "seed": [5, 6, 7]}), dataset / EPISODES_PATH)
    bundle = copy_bundle(pipeline.bundle, tmp_path / "bundle")
    card = read_card(bundle)
    card.training["dataset"] = str(dataset)
    write_card(bundle, card)
    config = EvalConfig(bundle=bundle, episodes=2, seed=6, videos=0, out=tmp_path / "out", **options)
    if refused:
        with pytest.raises(ValueError, match=f"evaluation seeds 6..7 include training episodes of .*{sim_task} 6"):
            evaluate(config, progress=False)
        assert not (tmp_path / "out").exists()
    else:
        assert evaluate(config, progress=False)["seeds"]["first"] == 6
