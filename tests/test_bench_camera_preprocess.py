"""bench/camera_preprocess.py runs quickly, prints every contender's figures (a JPEG's too, with no goal), and
leaves BENCHMARKS.md alone."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_camera_preprocess_quick_run_prints_each_frame_kind_with_its_goal():
    benchmarks = ROOT / "BENCHMARKS.md"
    before = benchmarks.read_text()
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "camera_preprocess.py"), "--quick", "--no-write"],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    for frame in ("1280x720 bgr8 | [280, 0, 720, 720] |", "1280x720 yuv422_yuy2 |", "640x480 bgr8 | [80, 0, 480, 480]"):
        assert f"| {frame}" in result.stdout
    assert "| frame | crop (x, y, w, h) | p50 (ms) | p95 (ms) | p99 (ms) | goal |" in result.stdout
    jpeg = r"^\| 1280x720 jpeg q90 \(\d+ KiB\) \| \[280, 0, 720, 720\] \|( [\d.]+ \|){3} - \|$"
    assert re.search(jpeg, result.stdout, re.M), result.stdout  # beside the raw frames, no goal of its own
    assert "Goal: p50 under 1 ms for a raw 1280x720 bgr8 frame; the JPEG's decode is reported" in result.stdout
    assert benchmarks.read_text() == before
