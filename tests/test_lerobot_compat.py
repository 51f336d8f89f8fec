"""LeRobot itself reads what `robostral collect` writes: LeRobot 0.4.4's LeRobotDataset, in a venv of its own.

LeRobot 0.4.4 pins torch < 2.11 and .venv has torch 2.13, so it lives in .venv-lerobot (requirements-lerobot.txt),
which `make lerobot-venv` builds and `make test` builds first. This test collects a dataset with .venv's
`robostral collect`, writes what Robostral's own reader returns for it, and has .venv-lerobot's python run
tests/lerobot_check.py on both: every frame and task bit for bit, and delta-timestamp action chunks.

Under `make test` (ROBOSTRAL_LEROBOT_VENV set) a missing or broken venv fails; a plain `pytest` without the venv
skips, naming `make lerobot-venv`.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import robostral_cli

from robostral.data import load_dataset

ROOT = Path(__file__).resolve().parent.parent
CHECKER = ROOT / "tests" / "lerobot_check.py"
STAMP = ".setup-done"  # what the Makefile touches once the venv is complete


def lerobot_python() -> Path:
    """The LeRobot venv's python; `make test` names the venv in ROBOSTRAL_LEROBOT_VENV and requires it."""
    named = os.environ.get("ROBOSTRAL_LEROBOT_VENV")
    venv = ROOT / (named or ".venv-lerobot")  # a relative name is the Makefile's, from the repository root
    if not (venv / STAMP).is_file():
        message = f"{venv}: the LeRobot 0.4.4 venv is not built (`make lerobot-venv` builds it; `make test` does)"
        if named:
            pytest.fail(message)
        pytest.skip(message)
    return venv / "bin" / "python"


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()}


def test_lerobot_reads_what_collect_wrote(tmp_path):
    python = lerobot_python()
    dataset = tmp_path / "dataset"
    # Two tasks, one episode each, flushed one by one (two data files), both cameras at 16 px.
    collect = robostral_cli("collect", "--out", str(dataset), "--tasks", "reach,push", "--episodes", "1",
                            "--image-size", "16", "--wrist", "--workers", "1", "--flush-every", "1")
    out, err = collect.communicate(timeout=300)
    assert collect.returncode == 0, f"robostral collect failed:\n{out}\n{err}"
    ours = load_dataset(dataset)
    assert len(ours.tasks) == 2 and len(list((dataset / "data").rglob("*.parquet"))) == 2
    arrays = ours.load_arrays()
    np.savez(tmp_path / "ours.npz", **arrays)
    episodes = [[row["dataset_from_index"], row["dataset_to_index"]] for row in ours.episodes]
    (tmp_path / "ours.json").write_text(json.dumps({"tasks": ours.tasks, "fps": ours.fps, "episodes": episodes}))

    before = snapshot(dataset)
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    # Offline, and Hugging Face's caches (datasets writes Arrow files there) in this test's folder.
    env.update(HF_HOME=str(tmp_path / "hf"), HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    try:
        result = subprocess.run([str(python), str(CHECKER), str(dataset), str(tmp_path / "ours.npz"),
                                 str(tmp_path / "ours.json")], env=env, cwd=tmp_path, capture_output=True, text=True,
                                timeout=300)
    except OSError as error:
        pytest.fail(f"{python}: the LeRobot venv is broken ({error}); rebuild it: rm -r {python.parent.parent}; "
                    "make lerobot-venv")
    assert result.returncode == 0, (
        f"LeRobot 0.4.4 does not read what `robostral collect` wrote as Robostral reads it "
        f"({python} {CHECKER.name}, exit {result.returncode}):\n{result.stdout}\n{result.stderr[-6000:]}")
    report = json.loads(result.stdout.strip().splitlines()[-1])
    torch_version = tuple(int(part) for part in report["torch"].split("+")[0].split(".")[:2])
    assert report["lerobot"] == "0.4.4" and torch_version < (2, 11), report  # LeRobot 0.4.4's own pins
    assert (report["frames"], report["episodes"], report["tasks"]) == (ours.num_frames, 2, ours.tasks), report
    assert report["keys"] == sorted(arrays) and report["padded"] > 0, report
    assert snapshot(dataset) == before, "LeRobot changed the dataset it read"
