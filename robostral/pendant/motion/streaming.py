"""Streaming the pendant's motions to the safety supervisor, a short window at every control tick.

The supervisor's watchdog holds the arm when commands stop, so a motion is never sent whole:
every tick (``period`` s) the streamer moves the motion's reference on and sends the next
``horizon`` points. If the pendant stalls or dies, the arm runs at most to the end of the last
window and the supervisor holds it. Motion time runs at the supervisor's speed override: the
supervisor stretches every time by ``1 / override``, so the window times are the override times
the tick (a 0% override sends nothing: the arm holds where it is, the motion resumes after).
Stopping a motion sends one point: hold at the reference, where the arm's target is now.

Plain Python, thread-safe: the web and runner threads start and stop motions, the ROS node's
timer ticks, and whoever gets a ``Chunk`` publishes it.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Protocol

import numpy as np

from robostral.pendant.motion.paths import TimedPath

HORIZON = 3  # points per window
HEARTBEAT_TIMEOUT = 0.2  # s without a heartbeat that ends a held motion


@dataclasses.dataclass(frozen=True)
class Chunk:
    """One trajectory for the supervisor: positions (points, joints) at times (s, before its re-timing)."""

    joint_names: tuple[str, ...]
    positions: np.ndarray
    times: np.ndarray


class Motion(Protocol):
    joint_names: tuple[str, ...]

    def advance(self, dt: float, now: float) -> str:
        """Move the reference on by ``dt`` s of motion time; '' while it goes on, else why it ended."""

    def reference(self) -> np.ndarray:
        """Where the arm's target is now (the motion's joints)."""

    def ahead(self, offsets: np.ndarray) -> np.ndarray:
        """Positions (len(offsets), joints) ``offsets`` s of motion time past the reference."""


class PlannedMotion:
    """A timed path, followed to its end."""

    def __init__(self, joint_names: tuple[str, ...], path: TimedPath) -> None:
        self.joint_names = tuple(joint_names)
        self.path = path
        self.clock = 0.0

    def advance(self, dt: float, now: float) -> str:
        if self.clock >= self.path.duration:
            return "finished"
        self.clock = min(self.clock + dt, self.path.duration)
        return ""

    def reference(self) -> np.ndarray:
        return self.path.at(self.clock)[0]

    def ahead(self, offsets: np.ndarray) -> np.ndarray:
        return self.path.at(self.clock + offsets)


class HeldMotion:
    """A motion that goes on only while the operator holds the button: the page sends a heartbeat every
    50-100 ms, and the first tick that finds none for ``timeout`` s ends it (a dropped connection, a
    hidden tab, a crashed browser: the arm stops)."""

    def __init__(self, motion: Motion, timeout: float, now: float) -> None:
        self.motion, self.timeout, self.last_heartbeat = motion, timeout, now
        self.joint_names = motion.joint_names

    def heartbeat(self, now: float) -> None:
        self.last_heartbeat = now

    def advance(self, dt: float, now: float) -> str:
        silent = now - self.last_heartbeat
        if silent > self.timeout:
            return f"no heartbeat for {silent:.2f} s"
        return self.motion.advance(dt, now)

    def reference(self) -> np.ndarray:
        return self.motion.reference()

    def ahead(self, offsets: np.ndarray) -> np.ndarray:
        return self.motion.ahead(offsets)


class Handle:
    """One started motion: ``done`` is set when it ends, ``outcome`` says how ('finished', 'stopped: ...')."""

    def __init__(self, motion: Motion, owner: object) -> None:
        self.motion = motion
        self.owner = owner
        self.done = threading.Event()
        self.outcome = ""

    def end(self, outcome: str) -> None:
        self.outcome = outcome
        self.done.set()


class MotionStreamer:
    """At most one motion at a time; ``tick`` every ``period`` s gives the window to publish."""

    def __init__(self, period: float, horizon: int = HORIZON) -> None:
        self.period = period
        self.horizon = horizon
        self._lock = threading.Lock()
        self._current: Handle | None = None

    @property
    def current(self) -> Handle | None:
        return self._current

    def start(self, motion: Motion, owner: object = None) -> Handle:
        """Stream ``motion`` from the next tick; the motion streamed before ends ('replaced')."""
        handle = Handle(motion, owner)
        with self._lock:
            if self._current is not None:
                self._current.end("stopped: replaced by another motion")
            self._current = handle
        return handle

    def stop(self, reason: str, owner: object = None) -> Chunk | None:
        """End the current motion (only ``owner``'s, when given); the hold to publish at once, None if none ran."""
        with self._lock:
            handle = self._current
            if handle is None or (owner is not None and handle.owner is not owner):
                return None
            self._current = None
        handle.end(f"stopped: {reason}")
        return self._hold(handle.motion)

    def tick(self, override: float, now: float) -> Chunk | None:
        """The window to publish now (None: nothing to send)."""
        with self._lock:
            handle = self._current
            if handle is None or override <= 0.0:
                return None
            dt = self.period * override
            ended = handle.motion.advance(dt, now)
            if ended:
                self._current = None
        if ended:
            handle.end(ended)
            return self._hold(handle.motion)
        offsets = dt * np.arange(1, self.horizon + 1)
        return Chunk(handle.motion.joint_names, handle.motion.ahead(offsets), offsets)

    def _hold(self, motion: Motion) -> Chunk:
        return Chunk(motion.joint_names, motion.reference()[None], np.array([self.period]))
