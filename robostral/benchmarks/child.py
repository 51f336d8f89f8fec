"""A benchmark's child process: run in its own session with its output in a log, waited on, stopped with SIGINT."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path


class Child:
    """A child process of the bench in its own session, its output in ``log``; stopped with SIGINT."""

    def __init__(self, command: list[str], log: Path) -> None:
        self.log = log
        with open(log, "wb") as out:
            self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def wait_for(self, text: str, timeout: float) -> str:
        """The log, once it holds ``text``; RuntimeError when the process ends or time runs out first."""
        deadline = time.monotonic() + timeout
        while text not in (output := self.log.read_text(errors="replace")):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{self.process.args[:4]}: no {text!r} in its output:\n{output[-3000:]}")
            time.sleep(0.1)
        return output

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
