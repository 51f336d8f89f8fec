"""The e-stop bench runs end to end (two presses per condition, BENCHMARKS.md left alone) and leaves nothing behind."""

from __future__ import annotations

import sys

from ros_helpers import ROOT, RosProcess, next_domain


def test_estop_bench_quick_run_prints_every_condition(tmp_path):
    benchmarks = ROOT / "BENCHMARKS.md"
    before = benchmarks.read_text() if benchmarks.exists() else None
    bench = RosProcess([sys.executable, str(ROOT / "bench" / "estop_under_load.py"), "--presses", "2", "--no-write"],
                       next_domain(), tmp_path / "bench.log")
    try:
        assert bench.process.wait(timeout=300) == 0, bench.output()[-3000:]
    finally:
        bench.stop()  # and nothing it started is left
    output = bench.output()
    for condition in ("idle", "flood, joint states", "flood, commands", "spoofed joint states"):
        assert f"| {condition} | 2 | " in output
    assert "- no supervisor crash (0): **met**" in output
    assert (benchmarks.read_text() if benchmarks.exists() else None) == before
