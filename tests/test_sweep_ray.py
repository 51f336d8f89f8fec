"""`robostral sweep` on real Ray, all on loopback: the local default, a two-node cluster, an interrupted sweep
resumed, and a worker killed mid-cell. The sweep runs the tests' tiny bundle and a second version of it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import copy_bundle, robostral_cli

from robostral.bundle.card import read_card, write_card
from robostral.evaluation.outcome import FAILURES
from robostral.sweep.spec import load_sweep, plan_cells
from robostral.sweep.store import done_keys, read_rows

EPISODES = 3  # per cell
HEAD_IP, WORKER_IP = "127.0.0.2", "127.0.0.3"  # loopback addresses Ray keeps as they are (not 127.0.0.1)
RAY = Path(sys.executable).parent / "ray"
STOP_GRACE = 10.0  # s for the nodes to stop on SIGTERM before they are killed


def environment() -> dict[str, str]:
    return {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "token"}


@pytest.fixture(scope="module")
def sweep_file(pipeline, tmp_path_factory) -> Path:
    """Two versions x reach x 3 light levels x 1 seed: 6 cells of EPISODES episodes."""
    root = tmp_path_factory.mktemp("sweep")
    v2 = copy_bundle(pipeline.bundle, root / "tiny-v2")
    write_card(v2, replace(read_card(v2), name="tiny-v2"))
    path = root / "sweep.yaml"
    path.write_text(f"name: loopback\npolicies: [{pipeline.bundle}, {v2}]\ntasks: [reach]\nseeds: [3]\n"
                    f"episodes: {EPISODES}\nbatch_size: 2\naxes:\n  light_direction: [0.0, 0.6, 1.2]\n")
    return path


def sweep(path: Path, out: Path, *extra: str) -> subprocess.Popen:
    return robostral_cli("sweep", str(path), "--out", str(out), "--no-progress", *extra, stderr=subprocess.STDOUT,
                         env=environment())


def finished(process: subprocess.Popen, timeout: float = 240) -> str:
    output, _ = process.communicate(timeout=timeout)
    assert process.returncode == 0, output
    return output


def episodes(out: Path) -> list[tuple]:
    """Every stored row as a comparable tuple, sorted: what must match between runs."""
    return sorted(tuple(row.values()) for row in read_rows(out))


@pytest.fixture(scope="module")
def local_run(sweep_file, tmp_path_factory) -> tuple[Path, str]:
    """The sweep on the local default: a single-node Ray started by the command itself."""
    out = tmp_path_factory.mktemp("local")
    return out, finished(sweep(sweep_file, out, "--workers", "2"))


def test_the_local_default_runs_every_cell_once_and_writes_the_report(sweep_file, local_run):
    out, output = local_run
    cells = plan_cells(load_sweep(sweep_file))
    assert "6 cells, 18 episodes; 0 cells already done, running 6" in output
    assert "ray: 1 node, 2 CPUs" in output
    rows = read_rows(out)
    assert len(rows) == len(cells) * EPISODES
    assert len({(row["cell"], row["episode"]) for row in rows}) == len(rows)
    assert {row["cell"] for row in rows} == {cell.key for cell in cells}
    assert {row["axis.light_direction"] for row in rows} == {0.0, 0.6, 1.2}
    assert all((row["failure"] is None) == row["success"] for row in rows)  # every failure carries its reason
    assert {row["failure"] for row in rows} <= {None, *FAILURES}
    versions = {row["policy"]: row["policy_sha256"] for row in rows}
    assert len(versions) == 2 and len(set(versions.values())) == 2
    report = (out / "report.md").read_text()
    assert "loopback" in report and (out / "report.html").exists()
    comparison = json.loads((out / "summary.json").read_text())["comparisons"][0]  # v2 against v1
    assert comparison["matched_cells"] == 3  # v2 is v1 renamed: same episodes, no change
    assert comparison["pooled"]["b"] == comparison["pooled"]["c"] == 0 and comparison["pooled"]["p"] == 1.0
    (out / "report.md").unlink()
    rewritten = subprocess.run([sys.executable, "-m", "robostral.cli", "sweep", "report", str(out)],
                               capture_output=True, text=True, timeout=120)
    assert rewritten.returncode == 0 and (out / "report.md").read_text() == report, rewritten.stderr
    again = finished(sweep(sweep_file, out))  # a re-run finds everything done
    assert "6 cells already done, running 0" in again
    assert "ray:" not in again  # not even Ray was started


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HEAD_IP, 0))
        return probe.getsockname()[1]


@pytest.fixture
def two_nodes(tmp_path):
    """A head and a worker node, one CPU each, on loopback; stopped (with their workers) at the end."""
    port = free_port()
    address = f"{HEAD_IP}:{port}"
    head = ["--head", f"--node-ip-address={HEAD_IP}", f"--port={port}", "--include-dashboard=false"]
    worker = [f"--address={address}", f"--node-ip-address={WORKER_IP}"]
    nodes = []
    try:
        for name, arguments in (("head", head), ("worker", worker)):
            with open(tmp_path / f"{name}.log", "w") as log:
                nodes.append(subprocess.Popen([str(RAY), "start", *arguments, "--num-cpus=1", "--disable-usage-stats",
                                               "--block"], stdout=log, stderr=subprocess.STDOUT, env=environment(),
                                              start_new_session=True))
            wait_for_nodes(address, len(nodes))
        yield address
    finally:
        for node in nodes:  # all at once: a worker node waits for a head that is stopping too
            os.killpg(node.pid, signal.SIGTERM)  # --block: the node's processes go with it
        deadline = time.monotonic() + STOP_GRACE
        for node in nodes:
            try:
                node.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(node.pid, signal.SIGKILL)
                node.wait()


def wait_for_nodes(address: str, count: int, timeout: float = 60) -> None:
    script = ("import ray, sys; ray.init(address=sys.argv[1], _node_ip_address=sys.argv[1].split(':')[0], "
              "logging_level='ERROR'); print(sum(n['Alive'] for n in ray.nodes()))")
    deadline, seen = time.monotonic() + timeout, ""
    while time.monotonic() < deadline:
        result = subprocess.run([sys.executable, "-c", script, address], capture_output=True, text=True,
                                env=environment(), timeout=60)
        seen = result.stdout.strip() or result.stderr[-500:]
        if seen == str(count):
            return
        time.sleep(1)
    raise AssertionError(f"the Ray cluster at {address} did not reach {count} nodes: {seen}")


def test_a_two_node_cluster_gives_the_same_episodes_as_the_local_default(sweep_file, local_run, two_nodes, tmp_path):
    out = tmp_path / "cluster"
    output = finished(sweep(sweep_file, out, "--address", two_nodes))
    assert "ray: 2 nodes, 2 CPUs" in output
    assert episodes(out) == episodes(local_run[0])  # identical seeds, identical results, wherever they ran


def test_an_interrupted_sweep_resumes_without_running_a_cell_twice(sweep_file, local_run, tmp_path):
    out = tmp_path / "resumed"
    process = sweep(sweep_file, out, "--workers", "1")
    deadline = time.monotonic() + 180
    while not done_keys(out) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=60)
    stored = done_keys(out)
    assert process.returncode == 130, output
    assert 1 <= len(stored) < 6 and f"interrupted: {len(stored)} cells stored" in output, output
    before = {key: (out / "cells" / f"{key}.parquet").stat().st_mtime_ns for key in stored}

    output = finished(sweep(sweep_file, out, "--workers", "2"))
    assert f"{len(stored)} cells already done, running {6 - len(stored)}" in output, output
    assert {key: (out / "cells" / f"{key}.parquet").stat().st_mtime_ns for key in stored} == before  # not rerun
    assert episodes(out) == episodes(local_run[0])  # nothing lost, nothing twice
    assert not list((out / "cells").glob("*.tmp")), list((out / "cells").iterdir())


def cell_workers() -> list[int]:
    """Pids of Ray workers running a cell now (Ray titles a busy worker after its task)."""
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "cmdline").read_bytes().startswith(b"ray::_cell_task"):
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def test_a_worker_killed_mid_cell_is_retried_and_no_row_is_lost_or_doubled(sweep_file, local_run, tmp_path):
    out = tmp_path / "fault"
    process = sweep(sweep_file, out, "--workers", "2")
    deadline, victim = time.monotonic() + 180, None
    while victim is None and process.poll() is None and time.monotonic() < deadline:
        busy = cell_workers()
        if busy:
            time.sleep(0.5)  # let it get into its episodes
            still = [pid for pid in busy if pid in cell_workers()]  # and kill it only if it is still in a cell
            victim = still[0] if still else None
        time.sleep(0.05)
    assert victim is not None, "no Ray worker was seen running a cell"
    stored_at_kill = len(done_keys(out))
    os.kill(victim, signal.SIGKILL)
    output = finished(process)
    assert stored_at_kill < 6  # the kill came mid-sweep
    assert "ran 6 cells" in output
    rows = read_rows(out)
    assert len(rows) == 6 * EPISODES and len({(r["cell"], r["episode"]) for r in rows}) == len(rows)
    assert episodes(out) == episodes(local_run[0])
