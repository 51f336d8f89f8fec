"""bench/inference.py runs end to end on the session's tiny bundles and reports every contender."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from conftest import copy_bundle

from robostral.bundle.card import read_card, write_card

ROOT = Path(__file__).resolve().parent.parent


def run_bench(bundle: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "bench/inference.py", "--bundle", str(bundle), "--calls", "20", "--rounds", "2",
               "--no-write"]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_inference_bench_reports_all_contenders(pipeline):
    before = (ROOT / "BENCHMARKS.md").read_text()
    result = run_bench(pipeline.bundle)
    assert result.returncode == 0, result.stderr
    for contender in ("ONNX Runtime fp32", "ONNX Runtime int8", "ONNX Runtime fp32, 1 thread (policy node)",
                      "PyTorch eager fp32"):
        assert f"| {contender} | 20 |" in result.stdout
    assert "MFLOP" in result.stdout and "GFLOP/s" in result.stdout
    assert "| Conv |" in result.stdout  # the profile breaks the fp32 call down by operator
    assert (ROOT / "BENCHMARKS.md").read_text() == before  # --no-write leaves the file alone


def test_the_bench_needs_only_the_bundle(pipeline, tmp_path):
    bundle = copy_bundle(pipeline.bundle, tmp_path / "bundle")
    card = read_card(bundle)
    card["training"]["checkpoint"] = str(tmp_path / "gone")  # runs are git-ignored: a fresh clone has none
    write_card(bundle, card)
    result = run_bench(bundle)
    assert result.returncode == 0, result.stderr
    assert "| PyTorch eager fp32 | 20 |" in result.stdout  # the eager contender is the bundle's own weights


def flops(output: str) -> float:
    return float(re.search(r"FLOPs per call: ([0-9.]+) MFLOP", output).group(1))


def test_a_wrist_bundle_is_benchmarked_with_both_cameras(pipeline, wrist_pipeline):
    front, both = run_bench(pipeline.bundle), run_bench(wrist_pipeline.bundle)
    assert both.returncode == 0, both.stderr
    assert "| PyTorch eager fp32 | 20 |" in both.stdout and "| ONNX Runtime fp32 | 20 |" in both.stdout
    assert flops(both.stdout) > 1.5 * flops(front.stdout)  # a second conv tower, the same head
