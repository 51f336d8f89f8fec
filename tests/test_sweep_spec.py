"""The sweep file and the store, without Ray: every problem named with its line before any work starts;
cells planned deterministically; a stored cell written once, whole."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import copy_bundle

from robostral.bundle.card import read_card, write_card
from robostral.sweep.spec import SWEEP_SEED_BASE, SweepFileError, load_sweep, plan_cells, randomization_points
from robostral.sweep.store import (
    COLUMNS,
    SweepStoreError,
    cell_path,
    done_keys,
    read_rows,
    write_cell,
    write_plan,
)

GOOD = """\
name: lighting
policies: [{bundle}]
tasks: [reach, push]
seeds: [0, 1]
episodes: 3
batch_size: 2
randomization: {{level: 0.5}}
axes:
  light_direction: [0.0, 0.6, 1.2]
  camera_position: {{range: [0.0, 0.06]}}
samples: 2
sample_seed: 7
"""


def write(tmp_path, text: str, name: str = "sweep.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_a_good_sweep_file_plans_one_cell_per_policy_robot_task_point_and_seed(pipeline, tmp_path):
    sweep = load_sweep(write(tmp_path, GOOD.format(bundle=pipeline.bundle)))
    assert sweep.robots == ("panda",)  # the bundle's robot, by default
    assert sweep.randomization["level"] == 0.5 and sweep.randomization["light_direction"] == 0.6  # defaults kept
    points = randomization_points(sweep)
    assert len(points) == 3 * 2  # the grid, each point with 2 draws of the range
    assert [p["light_direction"] for p in points] == [0.0, 0.0, 0.6, 0.6, 1.2, 1.2]
    assert all(0.0 <= p["camera_position"] <= 0.06 for p in points)
    assert len({p["camera_position"] for p in points}) == 6  # independent draws
    cells = plan_cells(sweep)
    assert len(cells) == 2 * 6 * 2  # tasks x points x seeds
    assert len({cell.key for cell in cells}) == len(cells)
    assert cells[0].episode_seeds == [SWEEP_SEED_BASE, SWEEP_SEED_BASE + 1, SWEEP_SEED_BASE + 2]
    assert cells[1].episode_seeds[0] != cells[0].episode_seeds[0]  # seed 1
    assert cells[0].randomization["camera_position"] == points[0]["camera_position"]  # the axis overrides


def test_planning_is_deterministic_and_keys_follow_what_decides_results(pipeline, tmp_path):
    path = write(tmp_path, GOOD.format(bundle=pipeline.bundle))
    keys = [cell.key for cell in plan_cells(load_sweep(path))]
    assert keys == [cell.key for cell in plan_cells(load_sweep(path))]
    more = write(tmp_path, GOOD.format(bundle=pipeline.bundle).replace("episodes: 3", "episodes: 4"), "more.yaml")
    assert not set(keys) & {cell.key for cell in plan_cells(load_sweep(more))}
    other = write(tmp_path, GOOD.format(bundle=pipeline.bundle).replace("sample_seed: 7", "sample_seed: 8"), "o.yaml")
    assert load_sweep(other).sample_seed == 8
    assert randomization_points(load_sweep(other)) != randomization_points(load_sweep(path))


def test_two_versions_share_episode_seeds_so_results_pair_up(pipeline, tmp_path):
    v2 = copy_bundle(pipeline.bundle, tmp_path / "v2")
    write_card(v2, replace(read_card(v2), name="tiny-v2"))
    text = GOOD.format(bundle=pipeline.bundle).replace(f"policies: [{pipeline.bundle}]",
                                                       f"policies: [{pipeline.bundle}, {v2}]")
    cells = plan_cells(load_sweep(write(tmp_path, text)))
    first, second = cells[: len(cells) // 2], cells[len(cells) // 2:]
    assert [c.policy for c in second] == [str(v2)] * len(second)
    assert [c.episode_seeds for c in first] == [c.episode_seeds for c in second]
    assert not {c.key for c in first} & {c.key for c in second}


def test_each_bundle_runs_only_on_the_robot_it_drives(pipeline, tmp_path):
    xarm = copy_bundle(pipeline.bundle, tmp_path / "xarm")
    write_card(xarm, replace(read_card(xarm), robot="xarm6", name="tiny-xarm6"))  # planning reads only the card
    text = (f"name: x\npolicies: [{pipeline.bundle}, {xarm}]\nrobots: [panda, xarm6]\ntasks: [reach]\n"
            "seeds: [0, 1]\nepisodes: 2\n")
    cells = plan_cells(load_sweep(write(tmp_path, text)))
    assert sorted((cell.policy, cell.robot) for cell in cells) == sorted(
        [(str(pipeline.bundle), "panda")] * 2 + [(str(xarm), "xarm6")] * 2)


@pytest.mark.parametrize("text, line, message", [
    ("name: x\npolicies: [{b}]\ntasks: [reach]\nseeds: [0]\nepisodes: 2\naxes:\n  light_level: [0, 1]\n",
     7, "unknown randomization axis 'light_level'"),
    ("name: x\npolicies: [{b}, policies/nope]\ntasks: [reach]\nseeds: [0]\nepisodes: 2\n",
     2, "policy 'policies/nope'"),
    ("name: x\npolicies: [{b}]\ntasks:\n  - reach\n  - fly\nseeds: [0]\nepisodes: 2\n", 5, "unknown task 'fly'"),
    ("name: x\npolicies: [{b}]\ntasks: [reach]\nseeds: [0]\nepisodes: 0\n", 5, "episodes must be an integer"),
    ("name: x\npolicies: [{b}]\ntasks: [reach]\nseeds: [0]\nepisodes: 2\nepsiodes: 3\n", 6, "unknown key 'epsiodes'"),
    ("name: x\npolicies: [{b}]\ntasks: [reach]\nseeds: [0]\nepisodes: 2\naxes:\n  action_latency: [0, 1.5]\n",
     7, "action_latency must be an integer"),
    ("name: x\npolicies: [{b}]\ntasks: [reach]\nseeds: [0]\nepisodes: 2\naxes:\n  object_friction: [-0.1]\n",
     7, "must be a finite number >= 0"),
    ("name: x\npolicies: [{b}]\ntasks: [reach]\nseeds: [0]\nepisodes: 2\naxes:\n  camera_angle: {{range: [1, 0]}}\n",
     7, "low <= high"),
    ("name: x\npolicies: [{b}]\nrobots: [panda, xarm6]\ntasks: [reach]\nseeds: [0]\nepisodes: 2\n",
     3, "no policy drives the xarm6"),
    ("name: x\npolicies: [{b}]\nrobots: [panda, kuka]\ntasks: [reach]\nseeds: [0]\nepisodes: 2\n",
     3, "robot 'kuka': unknown robot 'kuka'; known robots: panda, "),
    ("name: x\npolicies: [{b}]\ntasks: [reach]\nseeds: [0]\nepisodes: 2\nsamples: 3\n", 6, "no axis is a range"),
    ("name: x\npolicies: [{b}]\ntasks: [reach]\nseeds: [0]\nepisodes: 2\nrandomization: {{levle: 1}}\n",
     6, "unknown randomization setting 'levle'"),
    ("name: x\npolicies: [{b}]\ntasks: [reach]\nepisodes: 2\n", 1, "missing 'seeds'"),
    ("name: x\npolicies: [{b}\ntasks: [reach]\n", None, "not valid YAML"),
    ("- just\n- a list\n", 1, "a sweep file is a mapping"),
])
def test_a_bad_sweep_file_is_refused_naming_the_line(pipeline, tmp_path, text, line, message):
    path = write(tmp_path, text.format(b=pipeline.bundle))
    with pytest.raises(SweepFileError) as error:
        load_sweep(path)
    assert message in str(error.value)
    if line is not None:
        assert str(error.value).startswith(f"{path}:{line}: "), str(error.value)


def test_the_same_bundle_twice_is_refused(pipeline, tmp_path):
    twin = copy_bundle(pipeline.bundle, tmp_path / "twin")
    text = f"name: x\npolicies: [{pipeline.bundle}, {twin}]\ntasks: [reach]\nseeds: [0]\nepisodes: 2\n"
    with pytest.raises(SweepFileError, match="is the same bundle as"):
        load_sweep(write(tmp_path, text))


def test_the_cli_refuses_a_bad_file_before_any_work_starts(pipeline, tmp_path):
    path = write(tmp_path, f"name: x\npolicies: [{pipeline.bundle}]\ntasks: [reach]\nseeds: [0]\nepisodes: 2\n"
                           "axes:\n  gravity: [9.81]\n")
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, "-m", "robostral.cli", "sweep", str(path), "--out", str(out)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert f"robostral sweep: error: {path}:7: unknown randomization axis 'gravity'" in result.stderr
    assert "ray" not in result.stdout.lower() and not out.exists()  # nothing started, nothing written


def test_an_unreachable_cluster_is_a_clear_error(pipeline, tmp_path):
    path = write(tmp_path, f"name: x\npolicies: [{pipeline.bundle}]\ntasks: [reach]\nseeds: [0]\nepisodes: 1\n")
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, "-m", "robostral.cli", "sweep", str(path), "--out", str(out),
                             "--address", "127.0.0.2:1"], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"})
    assert result.returncode == 2
    assert "robostral sweep: error: cannot join the Ray cluster at 127.0.0.2:1" in result.stderr, result.stderr[-2000:]
    assert done_keys(out) == set()


def plan_for(name: str, axes: list[str], keys: list[str]) -> dict:
    cells = [{"key": key, "policy": "p", "robot": "panda", "task": "reach", "point": 0, "values": {}, "seed": 0,
              "episodes": 2} for key in keys]
    return {"name": name, "sweep_file": "s.yaml", "axes": axes, "policies": [], "cells": cells}


def rows_for(key: str, successes: list[bool], axes: dict) -> list[dict]:
    return [{"cell": key, "policy": "p", "policy_sha256": "0" * 64, "robot": "panda", "task": "reach", "point": 0,
             "seed": 0, "episode": i, "episode_seed": SWEEP_SEED_BASE + i, "success": s, "steps": 10,
             "instruction": "reach the red target", **axes} for i, s in enumerate(successes)]


def test_a_cell_is_stored_once_whole_and_read_back_in_plan_order(tmp_path):
    write_plan(tmp_path, plan_for("s", ["level"], ["b", "a"]))
    write_cell(tmp_path, "a", rows_for("a", [True, False], {"axis.level": 1.0}), ["level"])
    assert done_keys(tmp_path) == {"a"}
    again = rows_for("a", [False, False], {"axis.level": 1.0})
    write_cell(tmp_path, "a", again, ["level"])  # a retried cell: the stored one stays
    assert [r["success"] for r in read_rows(tmp_path)] == [True, False]
    write_cell(tmp_path, "b", rows_for("b", [True, True], {"axis.level": 0.0}), ["level"])
    assert [r["cell"] for r in read_rows(tmp_path)] == ["b", "b", "a", "a"]
    assert sorted(p.name for p in (tmp_path / "cells").iterdir()) == ["a.parquet", "b.parquet"]  # no temp files
    with pytest.raises(ValueError, match="belong to another cell"):
        write_cell(tmp_path, "c", rows_for("b", [True], {"axis.level": 0.0}), ["level"])
    assert done_keys(tmp_path) == {"a", "b"}


def test_a_cell_stored_before_failure_reasons_were_recorded_still_reads(tmp_path):
    write_plan(tmp_path, plan_for("s", [], ["a"]))
    earlier = pa.schema([column for column in COLUMNS if column[0] != "failure"])
    cell_path(tmp_path, "a").parent.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows_for("a", [True, False], {}), schema=earlier), cell_path(tmp_path, "a"))
    rows = read_rows(tmp_path)
    assert [(r["success"], r["failure"]) for r in rows] == [(True, None), (False, None)]  # the reason is unknown


def test_a_cell_interrupted_mid_write_leaves_nothing_behind(tmp_path, monkeypatch):
    from robostral.sweep import store

    def interrupted(table, where):
        Path(where).write_bytes(b"PAR1 half a file")
        raise KeyboardInterrupt  # Ctrl-C while the driver writes

    write_plan(tmp_path, plan_for("s", ["level"], ["a"]))
    monkeypatch.setattr(store.pq, "write_table", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_cell(tmp_path, "a", rows_for("a", [True], {"axis.level": 1.0}), ["level"])
    assert list((tmp_path / "cells").iterdir()) == [] and done_keys(tmp_path) == set()


def test_an_output_folder_of_another_sweep_is_refused(tmp_path):
    write_plan(tmp_path, plan_for("first", [], ["a"]))
    with pytest.raises(SweepStoreError, match="holds the results of sweep 'first'"):
        write_plan(tmp_path, plan_for("second", [], ["a"]))
    (tmp_path / "plan.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(SweepStoreError, match="expected format"):
        read_rows(tmp_path)


@pytest.mark.parametrize("arguments, message", [
    (["report"], "give the sweep folder: robostral sweep report DIR"),
    (["report", "{tmp}/nowhere"], "no plan.json; not the output folder of a sweep"),
    (["{tmp}/missing.yaml"], "no such sweep file"),
    (["{tmp}/missing.yaml", "{tmp}/out"], "did you mean --out"),
])
def test_the_cli_says_what_is_wrong_with_its_arguments(tmp_path, arguments, message):
    command = [sys.executable, "-m", "robostral.cli", "sweep", *(a.format(tmp=tmp_path) for a in arguments)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and message in result.stderr, result.stderr
