"""The program runner: one program version at a time, step by step, in a thread of its own.

Moves are planned from where the arm is and streamed through the safety supervisor; gripper
steps move the gripper alone; waits wait; a skill publishes its instruction for the policy and is
done when the simulator reports success for it or an operator confirms, failed when its timeout
passes, and its instruction is cleared either way so the policy stops commanding. Run, step (one
step, then pause), pause (the arm holds at once), resume (the interrupted step starts again from
where the arm is), stop. An e-stop or a supervisor rejection halts the program ("halted: reason").
Every start and end is audited. The cell is reached through ``Cell`` (the ROS bridge implements it).
"""

from __future__ import annotations

import dataclasses
import threading
import time
from typing import Protocol

import numpy as np

from robostral.pendant.access.audit import Action, AuditLog
from robostral.pendant.access.auth import User
from robostral.pendant.errors import Conflict, PendantError
from robostral.pendant.motion.planner import Planner
from robostral.pendant.motion.streaming import Handle, Motion
from robostral.pendant.programs.document import Gripper, Move, Skill, Step, Wait
from robostral.pendant.programs.library import ProgramVersion

POLL = 0.02  # s between checks for pause, stop and halt


class Cell(Protocol):
    """What the runner needs of the cell."""

    def planner(self) -> Planner: ...

    def joint_state(self) -> tuple[np.ndarray, np.ndarray]: ...

    def speed_override(self) -> float: ...

    def check_can_move(self) -> None: ...

    def set_manual_mode(self, on: bool) -> None: ...

    def start_motion(self, motion: Motion, owner: object) -> Handle: ...

    def stop_motion(self, reason: str, owner: object) -> None: ...

    def publish_instruction(self, text: str) -> None: ...

    def skill_succeeded(self, text: str, since: float) -> bool: ...


@dataclasses.dataclass(frozen=True)
class RunnerConfig:
    reach_tolerance: float = 0.02  # rad: a move is done when every arm joint is this close to the waypoint
    settle_timeout: float = 3.0  # s after a move's path ends for the arm to get there
    gripper_settle: float = 0.3  # s after a gripper path ends (fingers on an object stop short)


class _Interrupted(Exception):
    """The step was cut short by a pause, a stop or a halt."""


class _Failed(Exception):
    """The step cannot complete: the program fails with this reason."""


def describe(step: Step) -> str:
    """A step as a line of the program listing."""
    if isinstance(step, Move):
        return f"move ({step.mode}) to {step.waypoint} at {step.speed:.0%}"
    if isinstance(step, Gripper):
        return f"gripper {step.command}"
    if isinstance(step, Wait):
        return f"wait {step.seconds:g} s"
    return f"skill: {step.instruction} (timeout {step.timeout:g} s)"


class ProgramRunner:
    def __init__(self, cell: Cell, audit: AuditLog, config: RunnerConfig = RunnerConfig()) -> None:
        self.cell, self.audit, self.config = cell, audit, config
        self._lock = threading.Condition()
        self._thread: threading.Thread | None = None
        self._version: ProgramVersion | None = None
        self._user = ""
        self._state = "idle"
        self._step = -1  # index of the current (or next) step
        self._request = ""  # "pause", "stop" or "halt" for the thread to act on
        self._reason = ""
        self._single = False  # pause after the current step
        self._confirmed = False
        self._skill_active = False

    # -- controls -------------------------------------------------------------------------------
    def start(self, user: User, version: ProgramVersion, single_step: bool = False) -> dict:
        """Run ``version`` (or one step); Conflict while a program runs, Unsafe for a move the checks refuse."""
        with self._lock:
            if self._busy():
                program = self._version.document.program.name if self._version else "?"
                raise Conflict(f"program {program!r} is {self._state}: stop it first")
            before, self._state = self._state, "starting"
        try:  # the checks plan every move (IK for linear ones): not under the lock, which a halt needs
            cell = self.cell
            cell.check_can_move()
            q, v = cell.joint_state()
            cell.planner().check_program(version.document, q, v, cell.speed_override())
        except BaseException:
            with self._lock:
                self._state = before
            raise
        with self._lock:
            self._version, self._user, self._step, self._single = version, user.name, 0, single_step
            self._state, self._request, self._reason = "running", "", ""
            self.audit.record(user.name, Action.PROGRAM_RUN, {"name": version.document.program.name,
                                                              "version": version.version,
                                                              "mode": "step" if single_step else "run"})
            self._thread = threading.Thread(target=self._run, name="program-runner", daemon=True)
            self._thread.start()
            return self.status()

    def pause(self) -> dict:
        with self._lock:
            if self._state != "running":
                raise Conflict(f"no program is running (the runner is {self._state})")
            self._request = "pause"
            self._lock.notify_all()
        return self._wait_until_not("running")

    def resume(self, single_step: bool = False) -> dict:
        """Go on from the current step (``single_step``: run it, then pause again)."""
        with self._lock:
            if self._state != "paused":
                raise Conflict(f"no program is paused (the runner is {self._state})")
            self._single, self._state = single_step, "running"
            self._lock.notify_all()
            return self.status()

    def stop(self, user: User) -> dict:
        with self._lock:
            if not self._busy():
                raise Conflict(f"no program is running (the runner is {self._state})")
        self._end("stop", f"stopped by {user.name}")
        return self._wait_until_not("running", "paused")

    def halt(self, reason: str) -> None:
        """From the cell: an e-stop or a refused command ends the program now (no-op when none runs; never waits)."""
        self._end("halt", reason)

    def confirm(self, user: User) -> dict:
        """An operator confirms that the current skill step succeeded."""
        with self._lock:
            if not self._skill_active:
                raise Conflict("no skill step is waiting for a confirmation")
            self._confirmed = True
            self._lock.notify_all()
            self.audit.record(user.name, Action.SKILL, {"confirmed": True, **self._where()})
            return self.status()

    def status(self) -> dict:
        with self._lock:
            program = self._version.document.program if self._version else None
            return {"state": self._state, "reason": self._reason,
                    "program": program.name if program else None,
                    "version": self._version.version if self._version else None,
                    "step": self._step, "steps": [describe(s) for s in program.steps] if program else [],
                    "skill_waiting": self._skill_active, "user": self._user}

    def shutdown(self) -> None:
        self._end("stop", "the pendant server is stopping")
        if self._thread is not None:
            self._thread.join(timeout=5.0)

    # -- the thread -------------------------------------------------------------------------------
    def _run(self) -> None:
        steps = self._version.document.program.steps
        outcome = "finished"
        while True:
            with self._lock:
                while self._state == "paused" and not self._request:
                    self._lock.wait()
                if self._request in ("stop", "halt") or self._step >= len(steps):
                    break
                step = steps[self._step]
            try:
                self._execute(step)
            except _Interrupted:
                continue
            except (_Failed, PendantError) as error:
                outcome = f"failed: step {self._step + 1} ({describe(step)}): {error}"
                break
            with self._lock:
                self._step += 1
                if self._single and self._step < len(steps) and not self._request:
                    self._state = "paused"
        with self._lock:
            if self._request in ("stop", "halt"):
                state = "halted" if self._request == "halt" else "stopped"
                outcome = f"{state}: {self._reason}"
            # Audited before the end is visible, as the start is: whoever sees the program ended finds it in the log.
            self.audit.record(self._user, Action.PROGRAM_STOPPED, {**self._where(), "outcome": outcome})
            self._state, self._reason = outcome.split(":")[0], outcome.partition(": ")[2]
            self._request = ""
            self._lock.notify_all()

    def _execute(self, step: Step) -> None:
        cell = self.cell
        if isinstance(step, Wait):
            self._sleep(step.seconds)
        elif isinstance(step, Skill):
            self._skill(step)
        else:
            q, v = cell.joint_state()
            planner = cell.planner()
            cell.check_can_move()
            if isinstance(step, Move):
                cell.set_manual_mode(False)
                waypoint = self._version.document.waypoints[step.waypoint]
                motion = planner.move(q, v, waypoint, step.mode, step.speed, cell.speed_override(), False)
                self._follow(motion)
                self._settle(planner.arm_positions(waypoint))
            else:
                self._follow(planner.gripper(q, v, step.command, cell.speed_override()))
                self._sleep(self.config.gripper_settle)

    def _follow(self, motion: Motion) -> None:
        handle = self.cell.start_motion(motion, self)
        while not handle.done.wait(POLL):
            self._check()
        if handle.outcome != "finished":  # stopped by someone else (an e-stop, a refusal): that halts the program
            self._end("halt", handle.outcome.removeprefix("stopped: "))
            self._check()

    def _settle(self, target: np.ndarray) -> None:
        deadline = time.monotonic() + self.config.settle_timeout
        while True:
            q, _ = self.cell.joint_state()
            error = float(np.abs(q[: len(target)] - target).max())
            if error <= self.config.reach_tolerance:
                return
            if time.monotonic() > deadline:
                raise _Failed(f"the arm is still {error:.3f} rad from the waypoint {self.config.settle_timeout:g} s "
                              "after its path ended")
            self._sleep(POLL)

    def _skill(self, step: Skill) -> None:
        cell = self.cell
        with self._lock:
            self._confirmed, self._skill_active = False, True
        since = time.monotonic()
        self.audit.record(self._user, Action.SKILL, {"instruction": step.instruction, **self._where()})
        cell.publish_instruction(step.instruction)
        try:
            while not (cell.skill_succeeded(step.instruction, since) or self._confirmed):
                if time.monotonic() - since > step.timeout:
                    raise _Failed(f"not done within its {step.timeout:g} s timeout")
                self._sleep(POLL)
        finally:
            cell.publish_instruction("")  # the policy stops commanding
            with self._lock:
                self._skill_active = False

    def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        with self._lock:
            while True:
                self._check()
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                self._lock.wait(min(left, POLL))

    def _check(self) -> None:
        """Raise _Interrupted (the arm held) when a pause, stop or halt was asked for."""
        with self._lock:
            request = self._request
            if not request:
                return
            if request == "pause":
                self._state, self._request = "paused", ""
                self._lock.notify_all()
        self.cell.stop_motion(request, self)
        raise _Interrupted

    # -- helpers --------------------------------------------------------------------------------
    def _busy(self) -> bool:
        return self._state in ("starting", "running", "paused")

    def _end(self, request: str, reason: str) -> None:
        """Ask the thread to end (it acts within a POLL); the arm holds at once."""
        with self._lock:
            if not self._busy():
                return
            self._request, self._reason = request, reason
            self._lock.notify_all()
        self.cell.stop_motion(reason, self)

    def _wait_until_not(self, *states: str) -> dict:
        with self._lock:
            self._lock.wait_for(lambda: self._state not in states, timeout=2.0)
            return self.status()

    def _where(self) -> dict:
        program = self._version.document.program
        return {"name": program.name, "version": self._version.version, "step": self._step + 1}
