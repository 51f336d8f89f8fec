"""The simulator throughput benchmark runs end to end (a short smoke run, BENCHMARKS.md left alone)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from robots import robot_names

ROOT = Path(__file__).resolve().parent.parent


def test_sim_throughput_quick_run_prints_every_arm_against_panda_gym():
    pytest.importorskip("panda_gym", reason="panda-gym is the benchmark-only reference (requirements-dev.txt)")
    benchmarks = ROOT / "BENCHMARKS.md"
    before = benchmarks.read_text() if benchmarks.exists() else None
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "sim_throughput.py"), "--quick", "--no-write"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for robot in robot_names():  # every shipped arm, against panda-gym and with the camera
        assert f"robostral/PickPlace-v0 ({robot}) / panda-gym: **" in result.stdout
        assert f"| robostral/PickPlace-v0 ({robot}), async x2 | 2 |" in result.stdout
    assert "panda-gym PandaPickAndPlace-v3" in result.stdout
    assert "frames/s per process" in result.stdout
    assert (benchmarks.read_text() if benchmarks.exists() else None) == before
