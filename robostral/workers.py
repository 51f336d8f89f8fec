"""One pool of worker processes for the long jobs (collection, evaluation), results handed back in job order.

Each worker process is spawned (no fork: PyBullet and ONNX Runtime hold threads), builds its
state once (``setup(*args)`` returns the function that runs one job: an env per task, a
loaded policy) and then runs jobs until the pool closes. Jobs come from a deque the caller
may append to while results arrive (collection draws a replacement seed for a failed
episode); a window keeps at most a few jobs per worker in flight, so results are yielded
in job order without holding many. A job that raises is a RuntimeError naming the job with
the worker's traceback; a worker that dies is one too. Ctrl-C is the parent's: workers
ignore SIGINT, and exit on their own if the parent is killed.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import signal
import traceback
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

Job = TypeVar("Job")
Result = TypeVar("Result")
Tick = Callable[[], None]  # a job calls it for each unit of progress (an episode)
RunJob = Callable[[Any, Tick], Any]  # what ``setup`` returns: runs one job in the worker


class WorkerDied(RuntimeError):
    """A worker process ended while jobs were still to run (killed, out of memory, a crash in native code)."""


class WorkerPool(Generic[Job, Result]):
    """``processes`` spawned workers, each running ``setup(*args)`` once; use as a context manager."""

    def __init__(self, setup: Callable[..., RunJob], args: tuple, processes: int, what: str) -> None:
        """``what`` names the work in errors ("collection" gives "a collection worker died ...")."""
        if processes < 1:
            raise ValueError(f"a worker pool needs at least one process, got {processes}")
        self._a = f"{'an' if what[:1] in 'aeiou' else 'a'} {what}"  # "a collection", "an evaluation": for errors
        context = mp.get_context("spawn")
        self._jobs, self._results = context.Queue(), context.Queue()
        self._workers = [
            context.Process(target=_serve, args=(setup, args, self._jobs, self._results, os.getpid()), daemon=True)
            for _ in range(processes)
        ]

    def __enter__(self) -> WorkerPool[Job, Result]:
        for worker in self._workers:
            worker.start()
        return self

    def __exit__(self, *exc_info) -> None:
        for worker in self._workers:
            worker.terminate()
        for worker in self._workers:
            worker.join()

    def run(self, jobs: deque[Job], on_tick: Tick = lambda: None) -> Iterator[tuple[Job, Result]]:
        """Run ``jobs`` (read as it grows) and yield each (job, result) in job order."""
        window, sent, order, arrived = 4 * len(self._workers), 0, deque(), {}
        while jobs or order:
            while jobs and len(order) < window:
                job = jobs.popleft()
                self._jobs.put((sent, job))
                order.append((sent, job))
                sent += 1
            number, job = order[0]
            while number not in arrived:
                self._receive(arrived, on_tick)
            order.popleft()
            outcome, value = arrived.pop(number)
            if outcome == "error":
                raise RuntimeError(f"{self._a} worker failed on {job!r}:\n{value}")
            yield job, value

    def _receive(self, arrived: dict[int, tuple[str, Any]], on_tick: Tick) -> None:
        try:
            message = self._results.get(timeout=1.0)
        except queue.Empty:
            for worker in self._workers:
                if not worker.is_alive():
                    raise WorkerDied(f"{self._a} worker died (exit code {worker.exitcode})") from None
            return
        if message[0] == "tick":
            on_tick()
        else:
            outcome, number, value = message
            arrived[number] = (outcome, value)


def _serve(setup: Callable[..., RunJob], args: tuple, jobs, results, parent: int) -> None:
    """A worker's life: build its state, then run jobs until terminated (or orphaned)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    results.cancel_join_thread()  # if the parent is gone, exit without waiting to deliver results
    try:
        run_job = setup(*args)
    except Exception:
        failure = traceback.format_exc()
        run_job = None
    while True:
        try:
            number, job = jobs.get(timeout=1.0)
        except queue.Empty:
            if os.getppid() != parent:  # the parent was killed: do not outlive it
                return
            continue
        if run_job is None:
            results.put(("error", number, failure))
            continue
        try:
            results.put(("done", number, run_job(job, lambda: results.put(("tick",)))))
        except Exception:
            results.put(("error", number, traceback.format_exc()))
