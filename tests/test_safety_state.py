"""The supervisor's state machine: the e-stop latches, the watchdog holds, time comes from the caller."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from robostral.safety import State, StateMachine, Status

TIMEOUT = 0.5


def test_commands_make_it_active_and_the_watchdog_holds_when_they_stop():
    machine = StateMachine(TIMEOUT, now=10.0)
    assert machine.status == Status(State.IDLE, "started", 10.0) and machine.can_move
    assert machine.command_accepted(11.0)
    assert machine.status == Status(State.ACTIVE, "forwarding commands", 11.0)
    assert not machine.command_accepted(11.2)  # still active: nothing to republish
    assert not machine.tick(11.7)  # 0.5 s after the last command: not yet
    assert machine.tick(11.71)
    assert machine.status == Status(State.HOLDING, "watchdog: no command within 0.5 s", 11.71)
    assert machine.command_accepted(12.0) and machine.state is State.ACTIVE


def test_a_long_command_keeps_the_watchdog_off_until_it_ends():
    machine = StateMachine(TIMEOUT, now=0.0)
    machine.command_accepted(1.0, duration=3.0)
    assert not machine.tick(4.5)
    assert machine.tick(4.6) and machine.state is State.HOLDING


def test_a_rejected_command_holds_with_its_reason():
    machine = StateMachine(TIMEOUT, now=0.0)
    machine.command_accepted(1.0)
    assert machine.command_rejected(1.1, "point 0: joint panda_joint4 position is nan")
    assert machine.status == Status(State.HOLDING, "command rejected: point 0: joint panda_joint4 position is nan", 1.1)
    assert machine.command_rejected(1.2, "trajectory has no points")  # new reason, still holding since 1.1
    assert machine.status == Status(State.HOLDING, "command rejected: trajectory has no points", 1.1)
    assert machine.reset(1.3) and machine.state is State.IDLE


def test_the_estop_latches_until_reset():
    machine = StateMachine(TIMEOUT, now=0.0)
    machine.command_accepted(1.0)
    assert machine.estop(1.5, "pendant e-stop")
    assert machine.status == Status(State.ESTOPPED, "pendant e-stop", 1.5) and not machine.can_move
    assert not machine.command_accepted(1.6)
    assert not machine.command_rejected(1.7, "late")
    assert not machine.tick(9.0)
    assert not machine.fault(9.1, "driver lost")
    assert not machine.estop(9.2, "again")
    assert machine.status == Status(State.ESTOPPED, "pendant e-stop", 1.5)
    assert machine.reset(10.0)
    assert machine.status == Status(State.IDLE, "reset", 10.0) and machine.can_move


def test_a_fault_latches_its_first_reason_and_an_estop_overrides_it():
    machine = StateMachine(TIMEOUT, now=0.0)
    assert machine.fault(1.0, "joint states stale for 0.2 s")
    assert not machine.fault(1.1, "something else")
    assert not machine.command_accepted(1.2)
    assert machine.status == Status(State.FAULT, "joint states stale for 0.2 s", 1.0)
    assert machine.estop(1.3) and machine.status == Status(State.ESTOPPED, "e-stop requested", 1.3)


def test_reset_only_clears_what_stopped_the_arm():
    machine = StateMachine(TIMEOUT, now=0.0)
    assert not machine.reset(1.0)  # idle
    machine.command_accepted(2.0)
    assert not machine.reset(2.1)  # active: a reset is no way to stop
    assert machine.state is State.ACTIVE


def test_bad_times_are_refused():
    with pytest.raises(ValueError, match="watchdog_timeout must be a finite number of seconds > 0"):
        StateMachine(0.0, now=0.0)
    machine = StateMachine(TIMEOUT, now=0.0)
    machine.command_accepted(1.0)
    with pytest.raises(ValueError, match="now must be a finite time in seconds, got nan"):
        machine.tick(math.nan)
    with pytest.raises(ValueError, match="duration must be a finite number of seconds >= 0, got inf"):
        machine.command_accepted(1.0, duration=math.inf)


EVENTS = st.sampled_from(["accepted", "rejected", "tick", "estop", "fault", "reset"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(EVENTS, st.floats(0.0, 1.0), st.floats(0.0, 2.0)), max_size=40))
def test_no_event_sequence_moves_the_arm_while_estopped_or_lets_the_watchdog_slip(events):
    machine = StateMachine(TIMEOUT, now=0.0)
    now, deadline = 0.0, math.inf
    for event, gap, duration in events:
        now += gap
        before = machine.status
        if event == "accepted":
            changed = machine.command_accepted(now, duration)
            if before.state not in (State.ESTOPPED, State.FAULT):
                deadline = now + duration + TIMEOUT
        elif event == "rejected":
            changed = machine.command_rejected(now, "bad")
        elif event == "tick":
            changed = machine.tick(now)
        elif event == "estop":
            changed = machine.estop(now)
        elif event == "fault":
            changed = machine.fault(now, "broken")
        else:
            changed = machine.reset(now)
        after = machine.status
        assert changed == (after != before)
        assert machine.can_move == (after.state not in (State.ESTOPPED, State.FAULT))
        if before.state is State.ESTOPPED:  # latched: only a reset leaves it, and to idle
            assert after == before or (event == "reset" and after.state is State.IDLE)
        if before.state is State.FAULT and event not in ("reset", "estop"):
            assert after == before
        if event == "estop":
            assert after.state is State.ESTOPPED
        if after.state is State.ACTIVE and event == "tick":
            assert now <= deadline
        if after != before:
            assert after.since == (now if after.state != before.state else before.since)
