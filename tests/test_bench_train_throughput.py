"""bench/train_throughput.py runs end to end on the session's tiny dataset, and the training step's augmentation
draws and computes exactly what today's did (the bench's baseline)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from conftest import tiny_train_config

from robostral.training.step import TrainingStep

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from train_throughput import CHANNELS_FIRST, TODAY, TRAINER, TodaysStep  # noqa: E402


def test_train_throughput_bench_reports_every_loader(pipeline, tmp_path):
    config = tiny_train_config(pipeline.dataset, tmp_path / "run")
    tiny = {"batch_size": config.batch_size, "threads": 1, "shift_pixels": 4, "color_jitter": 0.15,
            "policy": {"chunk_size": 5, "channels": [8, 16], "keypoints": 8, "hidden_dim": 64}}
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(tiny))
    before = (ROOT / "BENCHMARKS.md").read_text()
    command = [sys.executable, "bench/train_throughput.py", "--dataset", str(pipeline.dataset), "--config",
               str(tmp_path / "tiny.yaml"), "--rounds", "2", "--steps", "2", "--warmup", "1", "--no-write"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    for loader in (TODAY, TRAINER, CHANNELS_FIRST):
        assert f"| {loader} | 4 |" in result.stdout
    assert "`robostral train` / today (median samples/s): **" in result.stdout
    assert "identical augmented batches on all 5 steps (sha256): **met**" in result.stdout
    assert "`robostral train` reaches today's loss exactly on every step: **met**" in result.stdout
    assert "GFLOP per step" in result.stdout
    assert (ROOT / "BENCHMARKS.md").read_text() == before  # --no-write leaves the file alone


@pytest.mark.parametrize(("shift_pixels", "jitter"), [(0, 0.0), (4, 0.0), (0, 0.15), (4, 0.15), (12, 0.3)])
def test_the_training_step_augments_exactly_as_today(shift_pixels, jitter):
    config = tiny_train_config("", "", shift_pixels=shift_pixels, color_jitter=jitter)
    images = torch.randint(0, 256, (16, 32, 32, 3), generator=torch.Generator().manual_seed(1), dtype=torch.uint8)
    steps = [kind(None, None, None, config, torch.Generator().manual_seed(7), torch.device("cpu"))
             for kind in (TodaysStep, TrainingStep)]
    for _ in range(3):  # the same draws each time, so the streams stay in step
        today, now = (step.augment_images(images) for step in steps)
        assert now.dtype == today.dtype == torch.float32
        assert torch.equal(now, today) and now.stride() == today.stride()  # the same values, the same layout
    assert torch.equal(steps[0].generator.get_state(), steps[1].generator.get_state())
