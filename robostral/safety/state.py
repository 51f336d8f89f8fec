"""The safety supervisor's state machine: whether the arm may move, and if not, why.

States: ``idle`` (started or reset, nothing commanded), ``active`` (forwarding commands),
``holding`` (stopped and held: a command was rejected or the watchdog fired; the next
accepted command resumes), ``estopped`` and ``fault`` (latched: only ``reset`` clears them;
an e-stop also overrides a fault). Every event takes ``now``, seconds on a monotonic clock
the caller owns: the machine never reads a clock, so the same events give the same states.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum


class State(str, Enum):
    IDLE = "idle"
    ACTIVE = "active"
    HOLDING = "holding"
    ESTOPPED = "estopped"
    FAULT = "fault"


LATCHED = (State.ESTOPPED, State.FAULT)


@dataclass(frozen=True)
class Status:
    """What /diagnostics and the latched state topic show."""

    state: State
    reason: str  # why the machine entered this state
    since: float  # s, when it did


class StateMachine:
    """Events in, status out; each event returns whether the status changed (to republish it)."""

    def __init__(self, watchdog_timeout: float, now: float) -> None:
        if not (math.isfinite(watchdog_timeout) and watchdog_timeout > 0):
            raise ValueError(f"watchdog_timeout must be a finite number of seconds > 0, got {watchdog_timeout!r}")
        self.watchdog_timeout = watchdog_timeout
        self.status = Status(State.IDLE, "started", _time(now))
        self._deadline = math.inf  # when the watchdog fires while active

    @property
    def state(self) -> State:
        return self.status.state

    @property
    def can_move(self) -> bool:
        """Whether a checked command may be forwarded: not e-stopped, not faulted."""
        return self.state not in LATCHED

    def command_accepted(self, now: float, duration: float = 0.0) -> bool:
        """A checked command went to the controllers: active; the watchdog fires ``duration`` s (the command's
        length, when it is not streamed) plus the timeout from now. Ignored when moving is not allowed."""
        if not (math.isfinite(duration) and duration >= 0):
            raise ValueError(f"duration must be a finite number of seconds >= 0, got {duration!r}")
        if not self.can_move:
            return False
        self._deadline = _time(now) + duration + self.watchdog_timeout
        return self._enter(State.ACTIVE, "forwarding commands", now)

    def command_rejected(self, now: float, reason: str) -> bool:
        """A command failed its checks: hold (the supervisor commands a controlled stop)."""
        return self.can_move and self._enter(State.HOLDING, f"command rejected: {reason}", now)

    def tick(self, now: float) -> bool:
        """The watchdog: no command for the timeout while active means hold."""
        now = _time(now)  # a NaN clock raises: it never just passes
        if self.state is State.ACTIVE and now > self._deadline:
            return self._enter(State.HOLDING, f"watchdog: no command within {self.watchdog_timeout:g} s", now)
        return False

    def estop(self, now: float, reason: str = "e-stop requested") -> bool:
        """Latch the e-stop (the supervisor commands a controlled stop); only ``reset`` clears it."""
        return self.state is not State.ESTOPPED and self._enter(State.ESTOPPED, reason, now)

    def fault(self, now: float, reason: str) -> bool:
        """Latch a fault (a dead driver, a bad joint state); the first reason stays, an e-stop stays an e-stop."""
        return self.can_move and self._enter(State.FAULT, reason, now)

    def reset(self, now: float) -> bool:
        """Clear an e-stop, a fault or a hold: idle, waiting for a command."""
        return self.state in LATCHED + (State.HOLDING,) and self._enter(State.IDLE, "reset", now)

    def _enter(self, state: State, reason: str, now: float) -> bool:
        status = Status(state, reason, _time(now) if state is not self.state else self.status.since)
        changed = status != self.status
        self.status = status
        return changed


def _time(now: float) -> float:
    if not math.isfinite(now):
        raise ValueError(f"now must be a finite time in seconds, got {now!r}")
    return float(now)
