"""A sweep's results on disk: the plan, and one Parquet file of episode rows per finished cell.

Layout of an output folder::

    plan.json                 what the sweep runs: its policies, axes and every cell with its key
    cells/<key>.parquet       the episodes of one finished cell, one row each

A cell's file appears whole or not at all (written aside, then renamed), and its
name is the cell's key, a hash of everything that decides its results. So a cell
is done exactly when its file exists: a re-run or a resumed sweep skips it, and
a cell that ran twice (a retried worker) still leaves one file, never duplicate
rows. Row columns are in ``COLUMNS`` plus ``axis.<name>`` per randomization axis.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

PLAN_FILE = "plan.json"
CELLS_DIR = "cells"
PLAN_FORMAT = "robostral-sweep/1"
AXIS_PREFIX = "axis."

# (name, type) of every row; per-axis columns follow, named AXIS_PREFIX + axis, float64
COLUMNS: tuple[tuple[str, pa.DataType], ...] = (
    ("cell", pa.string()),  # the cell's key
    ("policy", pa.string()),  # the policy's label: its path as the sweep file names it
    ("policy_sha256", pa.string()),  # sha256 of the bundle's card: which exact bundle ran
    ("robot", pa.string()),
    ("task", pa.string()),
    ("point", pa.int64()),  # index of the randomization point
    ("seed", pa.int64()),  # the sweep seed of the cell
    ("episode", pa.int64()),  # index within the cell
    ("episode_seed", pa.int64()),  # the env's reset seed
    ("success", pa.bool_()),
    ("steps", pa.int64()),
    ("instruction", pa.string()),
    # why it failed (robostral.evaluation.outcome.FAILURES); null for a success, and in cells stored before
    # reasons were recorded (reading such a file gives null too)
    ("failure", pa.string()),
)


class SweepStoreError(ValueError):
    """An output folder that is not a sweep's, or that belongs to a different sweep."""


def write_plan(out: Path, plan: dict[str, Any]) -> None:
    """Write plan.json; refuse a folder that holds another sweep's plan (results would mix)."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / PLAN_FILE
    if path.exists():
        previous = read_plan(out)
        if previous["name"] != plan["name"]:
            raise SweepStoreError(
                f"{out} holds the results of sweep {previous['name']!r}, not {plan['name']!r}: choose another --out"
            )
    text = json.dumps({"format": PLAN_FORMAT, **plan}, indent=1) + "\n"
    _write_atomically(path, lambda tmp: tmp.write_text(text))


def read_plan(out: Path) -> dict[str, Any]:
    """The plan.json of an output folder; SweepStoreError if there is none or it is not a sweep plan."""
    path = Path(out) / PLAN_FILE
    if not path.is_file():
        raise SweepStoreError(f"{out}: no {PLAN_FILE}; not the output folder of a sweep")
    try:
        plan = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise SweepStoreError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(plan, dict) or plan.get("format") != PLAN_FORMAT:
        raise SweepStoreError(f"{path}: expected format {PLAN_FORMAT!r}")
    return plan


def cell_path(out: Path, key: str) -> Path:
    return Path(out) / CELLS_DIR / f"{key}.parquet"


def done_keys(out: Path) -> set[str]:
    """Keys of the cells whose results are stored."""
    folder = Path(out) / CELLS_DIR
    return {path.stem for path in folder.glob("*.parquet")} if folder.is_dir() else set()


def write_cell(out: Path, key: str, rows: list[dict[str, Any]], axes: list[str]) -> Path:
    """Store one finished cell's rows; a cell already stored is left as it is (same key, same results)."""
    path = cell_path(out, key)
    if path.exists():
        return path
    if not rows or any(row["cell"] != key for row in rows):
        raise ValueError(f"the rows given for cell {key} are empty or belong to another cell")
    table = pa.Table.from_pylist(rows, schema=_schema(axes))
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_atomically(path, lambda tmp: pq.write_table(table, tmp))
    return path


def read_rows(out: Path) -> list[dict[str, Any]]:
    """Every stored episode row of a sweep, cells in plan order, episodes in order."""
    plan = read_plan(out)
    schema = _schema(plan["axes"])
    rows: list[dict[str, Any]] = []
    for cell in plan["cells"]:
        path = cell_path(out, cell["key"])
        if path.exists():
            rows.extend(pq.read_table(path, schema=schema).to_pylist())
    return rows


def _schema(axes: list[str]) -> pa.Schema:
    return pa.schema([*COLUMNS, *((AXIS_PREFIX + axis, pa.float64()) for axis in axes)])


def _write_atomically(path: Path, write: Callable[[Path], object]) -> None:
    """``write`` a file aside, then rename it over ``path``: whole or not at all, and no leftover when
    interrupted (Ctrl-C mid-write)."""
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    try:
        write(tmp)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
