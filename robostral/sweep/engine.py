"""Run a sweep's cells as Ray tasks and store each as it finishes.

One cell is one Ray task with one CPU (and ``gpus_per_task`` GPUs when asked):
its own process, its own physics clients, a batch of envs stepped together and
one batched ONNX Runtime call per control step. With no address the sweep starts
a single-node Ray on loopback for its own use and stops it at the end; with
``address`` (or ``RAY_ADDRESS``) it joins that cluster instead.

Cells already in the output folder are skipped, so an interrupted or repeated
sweep runs only what is missing. Ray re-runs a cell whose worker died (up to
``max_retries`` times); since only the driver writes, and a cell's rows are
written once under the cell's key, a retried cell can neither lose nor double
its rows. A cell that raises is reported and left unstored, for the next run.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from robostral.sweep.cell import cached_runtime, pack_bundle, run_cell, runtime_from_payload
from robostral.sweep.spec import Cell, Sweep, plan_cells
from robostral.sweep.store import done_keys, write_cell, write_plan

# The local Ray's node IP: loopback, but not 127.0.0.1, which Ray rewrites to the machine's routable address
# (ray-project/ray#26293, #59110); it keeps any other 127/8 address, so every connection stays on loopback.
LOCAL_NODE_IP = "127.0.0.2"
TOKEN_FILE = Path.home() / ".ray" / "auth_token"  # where `ray start --head` leaves the cluster's token


@dataclass(frozen=True)
class SweepOptions:
    out: Path
    address: str | None = None  # a Ray cluster; None: RAY_ADDRESS, else a local Ray on loopback
    workers: int | None = None  # CPUs of the local Ray, so cells at once; None: every core
    gpus_per_task: float = 0.0  # > 0: each cell asks Ray for GPUs and runs its policy with CUDA
    max_retries: int = 3  # re-runs of a cell whose worker process died
    progress: bool = True
    report: bool = True  # write the report at the end


@dataclass
class SweepOutcome:
    cells: int  # in the plan
    skipped: int  # already stored before this run
    ran: int  # stored by this run
    failed: dict[str, str] = field(default_factory=dict)  # cell key -> error, not stored
    episodes: int = 0  # run by this run
    wall_s: float = 0.0  # planning, Ray's start and the cells (the report comes after)
    cells_s: float = 0.0  # from the first cell submitted to the last one stored
    report: Path | None = None

    @property
    def episodes_per_s(self) -> float:
        return self.episodes / self.wall_s if self.wall_s else 0.0


def run_sweep(sweep: Sweep, options: SweepOptions) -> SweepOutcome:
    """Run every cell not yet stored under ``options.out``, then write the report."""
    start = time.monotonic()
    cells = plan_cells(sweep)
    write_plan(options.out, plan(sweep, cells))
    done = done_keys(options.out)
    pending = [cell for cell in cells if cell.key not in done]
    outcome = SweepOutcome(len(cells), len(cells) - len(pending), 0)
    print(f"sweep {sweep.name}: {len(cells)} cells, {sum(c.episodes for c in cells)} episodes; "
          f"{outcome.skipped} cells already done, running {len(pending)}", flush=True)
    if pending:
        with ray_cluster(options.address, options.workers) as resources:
            cpus, gpus = resources.get("CPU", 0), resources.get("GPU", 0)
            nodes = resources["nodes"]
            print(f"ray: {nodes} node{'s' if nodes != 1 else ''}, {cpus:g} CPUs, {gpus:g} GPUs", flush=True)
            _run_cells(sweep, pending, options, outcome)
    outcome.wall_s = time.monotonic() - start
    if options.report:
        from robostral.sweep.report import write_report  # matplotlib, only when reporting

        outcome.report = write_report(options.out)
    return outcome


def plan(sweep: Sweep, cells: list[Cell]) -> dict[str, Any]:
    """What plan.json records: enough to report on the folder without the sweep file."""
    return {
        "name": sweep.name,
        "sweep_file": str(sweep.source),
        "axes": [axis.name for axis in sweep.axes],
        "policies": [{"label": p.label, "name": p.name, "sha256": p.sha256, "robot": p.robot, "gate": p.gate}
                     for p in sweep.policies],
        "cells": [cell.as_plan() for cell in cells],
    }


@contextmanager
def ray_cluster(address: str | None, workers: int | None) -> Iterator[dict[str, float]]:
    """Ray for the sweep: the cluster at ``address`` (or RAY_ADDRESS), else a local one on loopback."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # offline by design: no usage reports
    import ray

    address = address or os.environ.get("RAY_ADDRESS")
    settings: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.WARNING}
    if address:
        host, _ = _host_port(address)
        if _is_loopback(host):
            settings["_node_ip_address"] = host  # a cluster on loopback: the driver's node is the head's
        if "RAY_AUTH_MODE" not in os.environ and TOKEN_FILE.exists():
            os.environ["RAY_AUTH_MODE"] = "token"  # a client must be told to send the token `ray start` made
        _check_reachable(address)
        try:
            ray.init(address=address, **settings)
        except (ConnectionError, RuntimeError) as error:
            raise ValueError(f"cannot join the Ray cluster at {address}: {str(error).splitlines()[0]}") from None
    else:
        ray.init(address="local", _node_ip_address=LOCAL_NODE_IP, num_cpus=workers or os.cpu_count(),
                 include_dashboard=False, **settings)
    try:
        yield {**ray.cluster_resources(), "nodes": sum(1 for node in ray.nodes() if node["Alive"])}
    finally:
        ray.shutdown()


def _check_reachable(address: str) -> None:
    """A clear error now for a HOST:PORT where nothing listens (Ray itself would retry for minutes)."""
    host, port = _host_port(address)
    if not host or not port.isdigit():
        return  # e.g. "auto": Ray resolves it
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as error:
        raise ValueError(f"cannot join the Ray cluster at {address}: {error.strerror or error}") from None


def _host_port(address: str) -> tuple[str, str]:
    """(host, port) of a Ray address such as HOST:PORT or ray://HOST:PORT; port empty when it has none."""
    host, colon, port = address.removeprefix("ray://").rpartition(":")
    return (host, port) if colon else (port, "")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _cell_task(cell: Cell, sha256: str, payload: list, axes: list[str], device: str) -> list[dict[str, Any]]:
    """The Ray task: ``payload`` is a one-item list so that Ray hands over the bundle's reference, not its bytes,
    and the bytes are fetched only by a worker that has not unpacked this bundle yet."""
    import ray

    runtime = cached_runtime(sha256, device) or runtime_from_payload(ray.get(payload[0]), device)
    return run_cell(cell, runtime, sha256, axes)


def _run_cells(sweep: Sweep, cells: list[Cell], options: SweepOptions, outcome: SweepOutcome) -> None:
    import ray

    device = "cuda" if options.gpus_per_task > 0 else "cpu"
    task = ray.remote(_cell_task).options(num_cpus=1, num_gpus=options.gpus_per_task,
                                          max_retries=options.max_retries, retry_exceptions=False)
    axes = [axis.name for axis in sweep.axes]
    used = {cell.policy for cell in cells}
    payloads = {p.label: (p.sha256, [ray.put(pack_bundle(p.path))]) for p in sweep.policies if p.label in used}
    start = time.monotonic()
    running = {task.remote(cell, *payloads[cell.policy], axes, device): cell for cell in cells}
    bar = tqdm(total=sum(cell.episodes for cell in cells), unit="ep", desc=f"cells 0/{len(cells)}",
               disable=not options.progress, dynamic_ncols=True)
    try:
        while running:
            ready, _ = ray.wait(list(running), num_returns=1)
            cell = running.pop(ready[0])
            try:
                write_cell(options.out, cell.key, ray.get(ready[0]), axes)
                outcome.ran += 1
                outcome.episodes += cell.episodes
            except (ray.exceptions.RayError, ValueError) as error:
                outcome.failed[cell.key] = _first_line(error)
                print(f"cell {cell.key} ({cell.policy}, {cell.robot}, {cell.task}, point {cell.point}, "
                      f"seed {cell.seed}) failed: {outcome.failed[cell.key]}", flush=True)
            bar.set_description(f"cells {outcome.ran + len(outcome.failed)}/{len(cells)}")
            bar.update(cell.episodes)
        outcome.cells_s = time.monotonic() - start
    finally:
        # On Ctrl-C the cells still running end with the driver (ray.shutdown, or the cluster's job cleanup).
        # No ray.cancel: it races a cell's own completion, which Ray 2.60 turns into a fatal check failure.
        bar.close()


def _first_line(error: Exception) -> str:
    """A Ray task error's cause, not its traceback."""
    cause = getattr(error, "cause", None) or error
    return f"{type(cause).__name__}: {str(cause).strip().splitlines()[-1] if str(cause).strip() else ''}"
