"""bench/inference.py runs end to end on the session's tiny bundle and reports every contender."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_inference_bench_reports_all_contenders(pipeline):
    before = (ROOT / "BENCHMARKS.md").read_text()
    result = subprocess.run(
        [
            sys.executable,
            "bench/inference.py",
            "--bundle",
            str(pipeline.bundle),
            "--calls",
            "20",
            "--rounds",
            "2",
            "--no-write",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    for contender in ("ONNX Runtime fp32", "ONNX Runtime int8", "ONNX Runtime fp32, 1 thread (policy node)",
                      "PyTorch eager fp32"):
        assert f"| {contender} | 20 |" in result.stdout
    assert "MFLOP" in result.stdout and "GFLOP/s" in result.stdout
    assert "| Conv |" in result.stdout  # the profile breaks the fp32 call down by operator
    assert (ROOT / "BENCHMARKS.md").read_text() == before  # --no-write leaves the file alone
