"""bench/sweep_scaling.py runs end to end on the session's tiny bundle: every way of running, both inferences."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_sweep_scaling_bench_reports_every_contender(pipeline):
    before = (ROOT / "BENCHMARKS.md").read_text()
    result = subprocess.run([sys.executable, "bench/sweep_scaling.py", "--bundle", str(pipeline.bundle), "--quick",
                             "--no-write"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for how in ("serial, 1 process", "Ray, 1 worker", "Ray, 2 workers"):
        rate = re.search(rf"\| {re.escape(how)} \| ([0-9.]+) \|", result.stdout)
        assert rate and float(rate.group(1)) > 0, result.stdout
    assert re.search(r"Parallel efficiency at 2 workers: \*\*\d+%\*\*", result.stdout)
    for inference in ("batched: one call per step", "per env: one call per env per step"):
        assert f"| {inference} |" in result.stdout
    assert (ROOT / "BENCHMARKS.md").read_text() == before  # --no-write leaves the file alone
