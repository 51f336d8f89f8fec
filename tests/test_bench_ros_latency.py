"""The ROS 2 latency benchmark runs end to end on the tiny test bundle (a short smoke run, BENCHMARKS.md left alone)."""

from __future__ import annotations

import sys

from ros_helpers import ROOT, RosProcess, next_domain


def test_ros_latency_quick_run_prints_the_policy_node_beside_the_floor(pipeline, tmp_path):
    benchmarks = ROOT / "BENCHMARKS.md"
    before = benchmarks.read_text() if benchmarks.exists() else None
    bench = RosProcess([sys.executable, str(ROOT / "bench" / "ros_latency.py"), "--bundle", str(pipeline.bundle),
                        "--ticks", "40", "--no-write"], next_domain(), tmp_path / "bench.log")
    try:
        assert bench.process.wait(timeout=120) == 0, bench.output()[-3000:]
    finally:
        bench.stop()  # and nothing it started is left
    output = bench.output()
    assert "| floor: bare rclpy publisher -> subscriber (32x32 rgb8) | " in output
    assert "| policy node: image stamp -> trajectory publish | " in output
    assert "- no missed deadline at 20 Hz: **" in output
    assert (benchmarks.read_text() if benchmarks.exists() else None) == before
