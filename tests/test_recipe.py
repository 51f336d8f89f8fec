"""`robostral recipe`: stages run in order as child processes, logged with their time, resumed after a stop."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from robostral.cli import main
from robostral.recipe import LOG_ROOT, Stage, load_recipe
from sim.config import ConfigError

LIST, SHOW = "robots list", "robots show panda"  # quick commands, as stages


def write_recipe(path, *stages: tuple[str, str], extra: str = "") -> str:
    lines = ["name: quick", "description: two quick stages", extra, "stages:"]
    lines += [f"  - {{name: {name}, command: '{command}'}}" for name, command in stages]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


@pytest.fixture
def here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the log goes to runs/recipes/ under the working directory
    return tmp_path


def log(here) -> dict:
    return json.loads((here / LOG_ROOT / "quick" / "log.json").read_text())


def test_stages_run_in_order_once_and_their_time_is_logged(here, capsys):
    recipe = write_recipe(here / "quick.yaml", ("listed", LIST), ("shown", SHOW))
    assert main(["recipe", "run", recipe]) == 0
    out = capsys.readouterr().out
    assert out.index("[listed] robostral robots list") < out.index("[shown] robostral robots show panda")
    assert "all 2 stages done" in out
    stages = log(here)["stages"]
    assert [(s["name"], s["command"], s["device"]) for s in stages] == [("listed", LIST, "cpu"), ("shown", SHOW, "cpu")]
    assert all(s["wall_s"] > 0 and s["cpu_s"] > 0 for s in stages)  # a Python child at least imports robostral

    assert main(["recipe", "run", recipe]) == 0  # everything done: nothing runs again
    out = capsys.readouterr().out
    assert "[listed] done before" in out and "[shown] done before" in out and "robostral robots" not in out
    assert main(["recipe", "show", recipe]) == 0
    assert "listed" in capsys.readouterr().out


def test_a_changed_stage_runs_again_with_every_stage_after_it(here, capsys):
    recipe = write_recipe(here / "quick.yaml", ("listed", LIST), ("shown", SHOW))
    assert main(["recipe", "run", recipe]) == 0
    write_recipe(here / "quick.yaml", ("listed", LIST), ("shown", "robots show ur5"))
    capsys.readouterr()
    assert main(["recipe", "show", recipe]) == 0
    assert "to run" in capsys.readouterr().out
    assert main(["recipe", "run", recipe]) == 0
    out = capsys.readouterr().out
    assert "[listed] done before" in out and "[shown] robostral robots show ur5" in out
    assert [s["command"] for s in log(here)["stages"]] == [LIST, "robots show ur5"]


def test_a_failed_stage_stops_the_recipe_and_keeps_the_stages_before_it(here, capsys):
    recipe = write_recipe(here / "quick.yaml", ("listed", LIST), ("broken", "robots show no-such-arm"))
    assert main(["recipe", "run", recipe]) == 1
    assert "a stage failed" in capsys.readouterr().err
    assert [s["name"] for s in log(here)["stages"]] == ["listed"]


@pytest.mark.parametrize("stages, extra, needle", [
    ((("a", LIST), ("a", SHOW)), "", "stage names repeat: a"),
    ((("a", ""),), "", "stage a: command is empty"),
    ((("a b", LIST),), "", "stage name must be letters"),
    ((("a", LIST),), "owner: me", "unknown key(s) owner"),
])
def test_a_bad_recipe_is_refused_with_the_reason(here, capsys, stages, extra, needle):
    recipe = write_recipe(here / "quick.yaml", *stages, extra=extra)
    assert main(["recipe", "run", recipe]) == 2
    assert needle in capsys.readouterr().err
    assert not (here / LOG_ROOT).exists()


def test_a_device_goes_to_the_training_stages_only():
    assert Stage("t", "robostral train --config c.yaml").command_on("cuda") == ["train", "--config", "c.yaml",
                                                                                 "--device", "cuda"]
    assert Stage("c", "collect --out d").command_on("cuda") == ["collect", "--out", "d"]
    assert Stage("t", "train --config c.yaml").command_on(None) == ["train", "--config", "c.yaml"]
    for own in ("--device cpu", "--device=cpu"):  # asked twice, the run and the stage would disagree
        with pytest.raises(ConfigError, match="stage t names its own --device"):
            Stage("t", f"train --config c.yaml {own}").command_on("cuda")


def test_the_shipped_recipes_load():
    recipes = sorted(Path(__file__).parents[1].joinpath("recipes").glob("*.yaml"))
    assert recipes
    for path in recipes:
        stages = load_recipe(path).stages
        assert any(s.words[0] == "export" and "--recipe" in s.words for s in stages)  # the card names every stage
        assert stages[-1].words[:2] == ["policies", "promote"]


@pytest.mark.parametrize("junk", ["{not json", '{"recipe": "x"}', '{"recipe": "x", "stages": [{"name": "a"}]}',
                                  '{"recipe": "x", "stages": [{"name": "a", "command": "c", "wall_s": "NaN?", '
                                  '"cpu_s": 1, "device": "cpu"}]}'])
def test_a_damaged_log_is_refused_with_the_way_out(here, capsys, junk):
    recipe = write_recipe(here / "quick.yaml", ("listed", LIST))
    (here / LOG_ROOT / "quick").mkdir(parents=True)
    (here / LOG_ROOT / "quick" / "log.json").write_text(junk)
    assert main(["recipe", "show", recipe]) == 2
    assert "not a recipe log (damaged or edited by hand): delete it" in capsys.readouterr().err
