"""bench/camera_preprocess.py runs quickly, prints every contender's figures, and leaves BENCHMARKS.md alone."""

from __future__ import annotations

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
    assert "Goal: p50 under 1 ms for a raw 1280x720 bgr8 frame." in result.stdout
    assert benchmarks.read_text() == before
