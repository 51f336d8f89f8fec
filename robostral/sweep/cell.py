"""What one cell does wherever it runs: its episodes with a verified bundle, as rows for the store.

A cluster's nodes need not share a file system with the machine that starts the
sweep, so bundles travel as bytes (``pack_bundle``) through Ray's object store;
a worker unpacks each bundle once into a temporary folder, verifies and loads it
there like any deployment would (``runtime_from_payload``), removes the folder
and reuses the loaded runtime for every later cell it runs. ``run_cell`` itself knows nothing of Ray: the serial path of
``bench/sweep_scaling.py`` calls it in-process.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from robostral.bundle.card import CARD_FILE, SIGNATURE_FILE, read_card, sha256_file
from robostral.evaluation.rollouts import evaluate_episodes
from robostral.runtime import PolicyRuntime
from robostral.sweep.spec import Cell
from robostral.sweep.store import AXIS_PREFIX

THREADS = 1  # intra-op threads per cell: a cell is a Ray task with one CPU


@dataclass(frozen=True)
class BundlePayload:
    sha256: str  # of the card, as in the plan
    files: dict[str, bytes]


def pack_bundle(path: str | Path) -> BundlePayload:
    """The card, its signature if any and every file the card lists, as bytes."""
    path = Path(path)
    names = [CARD_FILE, *read_card(path).files]
    if (path / SIGNATURE_FILE).exists():
        names.append(SIGNATURE_FILE)
    return BundlePayload(sha256_file(path / CARD_FILE), {name: (path / name).read_bytes() for name in names})


_runtimes: dict[tuple[str, str], PolicyRuntime] = {}  # (card sha256, device) -> runtime, per worker process


def cached_runtime(sha256: str, device: str = "cpu") -> PolicyRuntime | None:
    """The runtime this process already made for the bundle, if any."""
    return _runtimes.get((sha256, device))


def runtime_from_payload(payload: BundlePayload, device: str = "cpu") -> PolicyRuntime:
    """A verified runtime for a shipped bundle, unpacked once per process (then cached).

    The folder is gone once the runtime has loaded its sessions and tokenizer:
    Ray ends its workers without running exit handlers, so a folder kept for the
    process's lifetime would be left behind by every worker of every sweep.
    """
    runtime = cached_runtime(payload.sha256, device)
    if runtime is None:
        with tempfile.TemporaryDirectory(prefix=f"robostral-bundle-{payload.sha256[:12]}-") as folder:
            for name, data in payload.files.items():
                (Path(folder) / name).write_bytes(data)
            runtime = PolicyRuntime(folder, threads=THREADS, device=device)  # verifies every sha256 again
        _runtimes[payload.sha256, device] = runtime
    return runtime


def run_cell(cell: Cell, runtime: PolicyRuntime, policy_sha256: str, axes: list[str]) -> list[dict[str, Any]]:
    """The cell's episodes, one row each (the columns of ``robostral.sweep.store``)."""
    results = evaluate_episodes(runtime, cell.task, cell.robot, cell.episode_seeds,
                                randomization=cell.randomization, batch_size=cell.batch_size)
    return [
        {
            "cell": cell.key, "policy": cell.policy, "policy_sha256": policy_sha256, "robot": cell.robot,
            "task": cell.task, "point": cell.point, "seed": cell.seed, "episode": index,
            "episode_seed": result.seed, "success": result.success, "steps": result.steps,
            "instruction": result.instruction, "failure": result.failure,
            **{AXIS_PREFIX + axis: float(cell.values[axis]) for axis in axes},
        }
        for index, result in enumerate(results)
    ]
