"""The one worker pool (collection, evaluation): job order, growing job lists, progress, and failures named."""

from __future__ import annotations

import os
import signal
from collections import deque

import pytest

from robostral.workers import WorkerDied, WorkerPool


def squarer(offset: int):
    """A worker's state (here an offset) built once; each job squares its number, ticking once per job."""
    pid = os.getpid()

    def run(job: int, tick) -> tuple[int, int]:
        tick()
        if job == 13:
            raise ValueError("thirteen is refused")
        if job == 99:
            os.kill(os.getpid(), signal.SIGKILL)
        return job * job + offset, pid

    return run


def broken_setup():
    raise OSError("no such bundle")


def test_results_come_back_in_job_order_from_several_processes_with_a_tick_each():
    ticks = []
    with WorkerPool(squarer, (1,), 2, "test") as pool:
        results = list(pool.run(deque(range(12)), on_tick=lambda: ticks.append(1)))
    assert [job for job, _ in results] == list(range(12))
    assert [value for _, (value, _) in results] == [n * n + 1 for n in range(12)]
    assert len({pid for _, (_, pid) in results}) >= 1 and len(ticks) == 12


def test_jobs_appended_while_results_arrive_are_run_too():
    jobs = deque([1, 2])
    seen = []
    with WorkerPool(squarer, (0,), 2, "test") as pool:
        for job, _ in pool.run(jobs):
            seen.append(job)
            if job < 5:
                jobs.append(job + 10)  # like collection drawing a replacement seed
    assert sorted(seen) == [1, 2, 11, 12]


def test_a_job_that_raises_is_an_error_naming_the_job_and_the_workers_traceback():
    with WorkerPool(squarer, (0,), 2, "collection") as pool, pytest.raises(RuntimeError) as error:
        list(pool.run(deque([12, 13, 14])))
    assert "a collection worker failed on 13" in str(error.value)
    assert "ValueError: thirteen is refused" in str(error.value)


def test_a_worker_that_dies_is_reported_with_its_exit_code():
    died = r"an evaluation worker died \(exit code -9\)"
    with WorkerPool(squarer, (0,), 2, "evaluation") as pool, pytest.raises(WorkerDied, match=died):
        list(pool.run(deque([1, 99, 2, 3])))


def test_a_setup_that_fails_fails_the_first_job_with_its_traceback():
    with WorkerPool(broken_setup, (), 1, "test") as pool, pytest.raises(RuntimeError, match="OSError: no such bundle"):
        list(pool.run(deque([1])))
