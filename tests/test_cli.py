"""The `robostral sim` command and `make demo`'s job, run as a user would: real processes, real files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio

from robots import robot_names

ROOT = Path(__file__).resolve().parent.parent


def robostral(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "robostral.cli", *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def test_sim_json_is_a_stable_object():
    result = robostral("sim", "--task", "reach", "--robot", "xarm6", "--episodes", "3", "--seed", "7", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["episodes"] == 3
    assert summary["success_rate"] == summary["successes"] / 3
    assert summary["success_rate"] == 1.0
    assert summary["ci_low"] <= summary["success_rate"] <= summary["ci_high"]
    assert [r["seed"] for r in summary["results"]] == [7, 8, 9]
    assert all(
        "target" in r["instruction"]
        or "dot" in r["instruction"]
        or "marker" in r["instruction"]
        or "spot" in r["instruction"]
        for r in summary["results"]
    )


def test_sim_text_output_and_video(tmp_path):
    video = tmp_path / "rollout.gif"
    result = robostral("sim", "--task", "reach", "--episodes", "2", "--video", str(video))
    assert result.returncode == 0, result.stderr
    assert "2/2 succeeded" in result.stdout
    frames = iio.imread(video)
    assert frames.ndim == 4 and frames.shape[0] > 10 and frames.shape[-1] == 3
    assert frames[0].std() > 0  # a real picture, not a blank


def test_sim_refuses_unknown_names_and_bad_counts():
    for args, needle in [
        (("--task", "juggle"), "invalid choice: 'juggle'"),
        (("--task", "reach", "--robot", "ur9"), "argument --robot: unknown robot 'ur9'; known robots: panda, "),
        (("--task", "reach", "--episodes", "0"), "must be a positive integer"),
        (("--task", "reach", "--video", "out.avi"), "must end in .mp4 or .gif"),
    ]:
        result = robostral("sim", *args)
        assert result.returncode == 2, (args, result.stdout)
        assert needle in result.stderr, (args, result.stderr)


def test_gallery_writes_video_and_poster(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "robostral.gallery", "--out", str(tmp_path), "--size", "96"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "episodes succeeded" in result.stdout
    frames = iio.imread(tmp_path / "experts.mp4", plugin="FFMPEG")
    assert frames.shape[1:] == (len(robot_names()) * 96, 4 * 96, 3)  # a row per arm, a column per task
    assert frames.shape[0] > 20
    assert (tmp_path / "experts.png").stat().st_size > 1000
