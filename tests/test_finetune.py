"""`robostral finetune`: demonstrations -> a candidate fine-tuned from the deployed bundle, evaluated beside it on
the same seeds, and promoted only if its gate passes and nothing got significantly worse."""

from __future__ import annotations

import dataclasses
import shutil

import pytest
import yaml
from conftest import PIPELINE_TASKS

from robostral.bundle.card import read_card
from robostral.bundle.gate import GATES
from robostral.cli import main
from robostral.data import load_dataset
from robostral.data.collect import CollectConfig, collect
from robostral.finetune import FinetuneConfig, FinetuneError, plan, verdict


@pytest.fixture(scope="module")
def demonstrations(tmp_path_factory):
    """Stand-ins for demonstrations recorded on the cell: expert episodes of the pipeline's kind, other seeds."""
    root = tmp_path_factory.mktemp("finetune") / "demonstrations"
    collect(CollectConfig(out=str(root), tasks=("reach",), episodes=2, workers=1, image_size=32, seed=900),
            progress=False)
    return root


def evaluated(card, rates: dict[str, float], gate: str = "preview"):
    tasks = {task: {"success_rate": rate, "ci_low": rate, "ci_high": rate, "episodes": 200, "mean_length": 50}
             for task, rate in rates.items()}
    return dataclasses.replace(card, gate=GATES[gate],
                               evaluation={"tasks": tasks, "mean_success_rate": sum(rates.values()) / len(rates)})


def comparison(verdicts: dict[str, str]) -> dict:
    return {"tasks": {task: {"train": {"verdict": v, "baseline": "90%", "new": "80%", "p": 0.01 if v == "worse" else
                                       0.5}} for task, v in verdicts.items()}, "chains": None}


def test_the_candidate_is_promoted_only_if_its_gate_passes_and_nothing_got_worse(pipeline):
    card = read_card(pipeline.bundle)
    good = evaluated(card, {"reach": 0.9, "pick_place": 0.5})
    assert verdict(good, comparison({"reach": "better", "pick_place": "no significant change"})).promote
    refused = verdict(good, comparison({"reach": "better", "pick_place": "worse"}))
    assert not refused.promote and any("pick_place (train): significantly worse" in r for r in refused.reasons)
    failing = verdict(evaluated(card, {"reach": 0.9, "pick_place": 0.01}), comparison({"reach": "better"}))
    assert not failing.promote and any("pick_place" in r and "FAIL" in r for r in failing.reasons)


def test_the_plan_merges_original_episodes_and_names_every_step(pipeline, demonstrations, tmp_path):
    steps = plan(FinetuneConfig(demonstrations=str(demonstrations), deployed=str(pipeline.bundle),
                                out=str(tmp_path / "ft"), replay=1.5, steps=5, episodes=3, tasks=PIPELINE_TASKS))
    assert [s.name for s in steps.recipe.stages] == ["merge", "train", "export", "eval-deployed", "eval-candidate",
                                                     "compare"]
    assert steps.original_episodes == 3  # 1.5 per demonstration, drawn from the bundle's own training data
    merge = steps.recipe.stages[0].command
    assert str(demonstrations) in merge and f"{load_dataset(pipeline.dataset).root}:" in merge
    train = yaml.safe_load((tmp_path / "ft" / "train.yaml").read_text())
    assert train["init_from"] == str(pipeline.bundle) and train["steps"] == 5
    evaluations = [s.command for s in steps.recipe.stages if s.name.startswith("eval")]
    assert all("--seed 5000000 --task reach --task pick_place" in c for c in evaluations)  # the same scenes


def test_what_does_not_fit_is_refused_before_anything_runs(pipeline, demonstrations, tmp_path):
    other = tmp_path / "wide"
    collect(CollectConfig(out=str(other), tasks=("reach",), episodes=1, workers=1, image_size=24), progress=False)
    cases = {
        "does not fit": FinetuneConfig(demonstrations=str(other), deployed=str(pipeline.bundle), tasks=("reach",)),
        "is not here: pass --original": FinetuneConfig(demonstrations=str(demonstrations),
                                                       deployed=str(pipeline.bundle),
                                                       original=str(tmp_path / "gone"), tasks=("reach",)),
        "has no evaluation to compare with": FinetuneConfig(demonstrations=str(demonstrations),
                                                            deployed=str(pipeline.bundle), replay=0),
    }
    for message, config in cases.items():
        with pytest.raises(FinetuneError, match=message):
            plan(dataclasses.replace(config, out=str(tmp_path / "ft")))
    with pytest.raises(FinetuneError, match="replay must be"):
        FinetuneConfig(demonstrations="d", deployed="b", replay=-1)


def test_a_refused_candidate_leaves_the_deployed_bundle_as_it_was(pipeline, demonstrations, tmp_path, capsys,
                                                                  monkeypatch):
    monkeypatch.chdir(tmp_path)  # the recipe log goes under runs/
    policies = tmp_path / "policies"
    shutil.copytree(pipeline.bundle, policies / "cell")
    before = {p.name: p.read_bytes() for p in (policies / "cell").iterdir()}
    code = main(["finetune", "--demonstrations", str(demonstrations), "--deployed", str(policies / "cell"),
                 "--policies-dir", str(policies), "--original", str(pipeline.dataset), "--steps", "3",
                 "--episodes", "2", "--task", "reach", "--eval-option=--workers=1", "--eval-option=--batch-size=2"])
    out, err = capsys.readouterr()
    assert code == 1 and "not promoted" in err, out + err
    assert "gate production:" in out  # the pipeline's bundle is judged by the production gate, which 3 steps fail
    candidate = read_card(tmp_path / "runs/finetune/cell/candidate")
    assert candidate.training["initialized_from"] is not None and candidate.evaluation is not None
    assert {p.name: p.read_bytes() for p in (policies / "cell").iterdir()} == before
    assert (tmp_path / "runs/finetune/cell/compare.json").is_file()
