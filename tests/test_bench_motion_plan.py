"""bench/motion_plan.py runs quickly, prints a row per shipped arm with its goal, and leaves BENCHMARKS.md alone."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from robots import robot_names

ROOT = Path(__file__).resolve().parent.parent


def test_motion_plan_quick_run_prints_every_arm_with_its_goal():
    benchmarks = ROOT / "BENCHMARKS.md"
    before = benchmarks.read_text()
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "motion_plan.py"), "--quick", "--no-write"],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "| arm | p50 (ms) | p95 (ms) | p99 (ms) | samples sent (median) | goal |" in result.stdout
    for robot in robot_names():
        assert re.search(rf"^\| {robot}( \| [\d.]+){{4}} \| (met|NOT met) \|$", result.stdout, re.M), result.stdout
    assert "Goal: p50 under 10 ms per command." in result.stdout
    assert benchmarks.read_text() == before
