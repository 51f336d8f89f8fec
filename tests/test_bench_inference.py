"""bench/inference.py runs end to end on the session's tiny bundles and reports every contender."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import torch
from conftest import copy_bundle

from robostral.bundle.card import POLICY_FILE, read_card, write_card
from robostral.export.policy_graphs import write_policy_onnx
from robostral.training.bundle_weights import policy_from_bundle

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from inference import without_normalization  # noqa: E402


def run_bench(bundle: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "bench/inference.py", "--bundle", str(bundle), "--calls", "20", "--rounds", "2",
               "--no-write"]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_inference_bench_reports_all_contenders(pipeline):
    before = (ROOT / "BENCHMARKS.md").read_text()
    result = run_bench(pipeline.bundle)
    assert result.returncode == 0, result.stderr
    for contender in ("ONNX Runtime fp32", "ONNX Runtime int8", "ONNX Runtime fp32, 1 thread (policy node)",
                      "PyTorch eager fp32", "ONNX Runtime fp32, GroupNorm removed (bound)"):
        assert f"| {contender} | 20 |" in result.stdout
    assert "MFLOP" in result.stdout and "GFLOP/s" in result.stdout
    assert "| Conv |" in result.stdout  # the profile breaks the fp32 call down by operator
    assert (ROOT / "BENCHMARKS.md").read_text() == before  # --no-write leaves the file alone


def test_the_bench_needs_only_the_bundle(pipeline, tmp_path):
    bundle = copy_bundle(pipeline.bundle, tmp_path / "bundle")
    card = read_card(bundle)
    card.training["checkpoint"] = str(tmp_path / "gone")  # runs are git-ignored: a fresh clone has none
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


def test_the_bound_is_the_same_graph_without_its_normalization(pipeline, tmp_path):
    model = policy_from_bundle(pipeline.bundle)
    c = model.config
    inputs = {"image": np.zeros((2, c.image_size, c.image_size, 3), np.uint8),
              "state": np.zeros((2, c.state_dim), np.float32),
              "condition": np.zeros((2, model.condition_dim), np.float32)}
    write_policy_onnx(without_normalization(model), inputs, tmp_path / "bare.onnx")

    def ops(path: Path) -> set[str]:
        return {node.op_type for node in onnx.load(str(path)).graph.node}

    shipped, bare = ops(pipeline.bundle / POLICY_FILE), ops(tmp_path / "bare.onnx")
    assert "InstanceNormalization" in shipped and "InstanceNormalization" not in bare
    assert {"Conv", "Softmax", "Gemm"} <= bare  # everything else stays
    assert any(isinstance(m, torch.nn.GroupNorm) for m in model.modules())  # the bundle's network is untouched
