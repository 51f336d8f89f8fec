"""The pendant load benchmark runs end to end on the tiny test bundle (a short smoke run, BENCHMARKS.md left alone)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pendant_browser
import pytest
from ros_helpers import ROOT, RosProcess, next_domain

pytest.importorskip("playwright.sync_api", reason="playwright is a dev dependency")
if not Path(pendant_browser.CHROMIUM).exists():
    pytest.skip(f"no {pendant_browser.CHROMIUM}: `make setup` installs Debian's chromium", allow_module_level=True)


def test_pendant_load_quick_run_prints_latency_and_client_rates_side_by_side(pipeline, tmp_path):
    benchmarks = ROOT / "BENCHMARKS.md"
    before = benchmarks.read_text() if benchmarks.exists() else None
    bench = RosProcess([sys.executable, str(ROOT / "bench" / "pendant_load.py"), "--bundle", str(pipeline.bundle),
                        "--ticks", "30", "--rounds", "1", "--no-write"], next_domain(), tmp_path / "bench.log")
    try:
        assert bench.process.wait(timeout=180) == 0, bench.output()[-3000:]
    finally:
        bench.stop()  # and nothing it started is left: graph, browsers
    output = bench.output()
    for phase in ("no pendant client", "2 Chromium clients, drawing off (websocket only)",
                  "2 Chromium clients on the Run screen"):
        ticks = re.search(rf"\| {re.escape(phase)} \| (\d+) \| ", output)
        # the 30 images counted, and the commands stamped among them whose image the bench's own best-effort
        # subscription missed (on a loaded machine, a third more)
        assert ticks and int(ticks[1]) >= 30, output[-3000:]
    assert "| 2 Chromium clients on the Run screen: client 2 | " in output
    assert "control loop p99 within 10% of no client" in output
    assert (benchmarks.read_text() if benchmarks.exists() else None) == before
