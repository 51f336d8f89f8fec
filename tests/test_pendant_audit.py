"""The audit log: append-only in SQLite (triggers), filtered queries, and a CSV export that round-trips."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from datetime import datetime

import pytest
from pendant_helpers import FakeClock

from robostral.pendant.access.audit import CSV_COLUMNS, MAX_TALLIES_PER_WINDOW, TALLY_WINDOW_S, Action, AuditLog
from robostral.pendant.access.store import Store
from robostral.pendant.errors import BadRequest


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def audit(tmp_path, clock):
    return AuditLog(Store(tmp_path / "pendant.db"), clock)


def test_records_are_queried_oldest_first_with_filters(audit, clock):
    start = clock.now
    audit.record("ada", Action.LOGIN, {"client": "127.0.0.1"})
    clock.advance(10)
    audit.record("otto", Action.JOG, {"joint": "joint1", "delta": 0.1})
    clock.advance(10)
    audit.record("otto", "estop")
    clock.advance(10)
    audit.record(None, Action.LOGIN_FAILED, {"name": "mallory"})
    assert [e.action for e in audit.query()] == [Action.LOGIN, Action.JOG, Action.ESTOP, Action.LOGIN_FAILED]
    assert [e.action for e in audit.query(user="otto")] == [Action.JOG, Action.ESTOP]
    assert [e.user for e in audit.query(action="login_failed")] == [None]
    assert [e.at - start for e in audit.query(since=start + 10, until=start + 30)] == [10, 20]
    assert [e.action for e in audit.query(limit=2)] == [Action.ESTOP, Action.LOGIN_FAILED]  # the newest two
    assert audit.query(action=Action.JOG)[0].detail == {"joint": "joint1", "delta": 0.1}


@pytest.mark.parametrize("bad", [{"action": "dance"}, {"limit": 0}, {"limit": 10_001}])
def test_bad_query_filters_are_bad_requests(audit, bad):
    with pytest.raises(BadRequest, match=next(iter(bad))):
        audit.query(**bad)


def test_an_unknown_action_is_refused_at_record_time(audit):
    with pytest.raises(ValueError, match="dance"):
        audit.record("ada", "dance")


@pytest.mark.parametrize("statement", ["UPDATE audit SET user = 'mallory'", "DELETE FROM audit",
                                       "UPDATE audit SET detail = '{}' WHERE id = 1"])
def test_audit_rows_cannot_be_changed_or_deleted(tmp_path, statement):
    store = Store(tmp_path / "pendant.db")
    AuditLog(store).record("ada", Action.RESET, {"why": "test"})
    with pytest.raises(sqlite3.IntegrityError, match="append-only"), store.transaction() as conn:
        conn.execute(statement)
    raw = sqlite3.connect(tmp_path / "pendant.db")  # not even outside the pendant's own code
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        raw.execute(statement)
    raw.close()
    [entry] = AuditLog(store).query()
    assert (entry.user, entry.detail) == ("ada", {"why": "test"})


def test_the_csv_export_round_trips(audit, clock):
    audit.record("ada", Action.POLICY_CHANGED, {"policy": "robostral-s, \"v2\"", "note": "line1\nline2 ü"})
    clock.advance(0.123456)
    audit.record(None, Action.LOGIN_FAILED, {"name": "=cmd|' /C calc'!A0"})
    audit.record("eve", Action.PROGRAM_RUN, {"name": "pick", "version": 3})
    text = audit.export_csv()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert tuple(rows[0]) == CSV_COLUMNS
    entries = audit.query()
    assert len(rows) == len(entries) == 3
    for row, entry in zip(rows, entries):
        assert int(row["id"]) == entry.id
        assert datetime.fromisoformat(row["time"]).timestamp() == pytest.approx(entry.at, abs=1e-6)
        assert (row["user"] or None) == entry.user
        assert row["action"] == entry.action.value
        assert json.loads(row["detail"]) == entry.detail
        assert not row["detail"].startswith(("=", "+", "-", "@"))  # nothing a spreadsheet runs as a formula
    assert list(csv.DictReader(io.StringIO(audit.export_csv(user="eve"))))[0]["action"] == "program_run"


def test_anonymous_events_are_tallied_one_row_per_kind_and_window_with_their_count(audit, clock):
    start = clock.now - clock.now % TALLY_WINDOW_S
    clock.now = start
    audit.record("ada", Action.LOGIN, {"client": "127.0.0.1"})
    for _ in range(1000):
        audit.tally(Action.ESTOP, {"client": "10.0.0.9", "anonymous": True})
        clock.advance(1)
    audit.tally(Action.LOGIN_FAILED, {"name": "eve", "client": "10.0.0.9"})
    audit.record("ada", Action.RESET)
    login, estop, failed, reset = audit.query()
    assert (login.action, estop.action, failed.action, reset.action) == (
        Action.LOGIN, Action.ESTOP, Action.LOGIN_FAILED, Action.RESET)
    assert login.detail == {"client": "127.0.0.1"} and reset.detail == {}  # ordinary rows show no count
    assert estop.user is None and estop.at == start
    assert estop.detail == {"client": "10.0.0.9", "anonymous": True, "count": 1000, "last_at": start + 999}
    assert failed.detail["count"] == 1
    clock.now = start + TALLY_WINDOW_S  # a new window: a new row
    assert audit.tally(Action.ESTOP, {"client": "10.0.0.9", "anonymous": True}).detail["count"] == 1
    assert [e.detail["count"] for e in audit.query(action="estop")] == [1000, 1]
    rows = list(csv.DictReader(io.StringIO(audit.export_csv(action="estop"))))
    assert [json.loads(row["detail"])["count"] for row in rows] == [1000, 1]


def test_the_kinds_tallied_in_a_window_are_capped(audit, clock):
    for i in range(MAX_TALLIES_PER_WINDOW + 50):  # a new address each time
        audit.tally(Action.LOGIN_FAILED, {"client": f"10.1.{i // 250}.{i % 250}", "rate_limited": True})
    entries = audit.query(action="login_failed")
    assert len(entries) == MAX_TALLIES_PER_WINDOW + 1
    assert {k: v for k, v in entries[-1].detail.items() if k != "last_at"} == {"overflow": True, "count": 50}


@pytest.mark.parametrize("statement", ["DELETE FROM audit_tallies", "UPDATE audit_tallies SET count = count - 1",
                                       "UPDATE audit_tallies SET audit_id = 1", "UPDATE audit_tallies SET key = 'x'",
                                       "UPDATE audit_tallies SET last_at = 0", "UPDATE audit SET detail = '{}'"])
def test_tallies_only_count_up_and_their_rows_stay_append_only(tmp_path, statement):
    store = Store(tmp_path / "pendant.db")
    log = AuditLog(store)
    log.record("ada", Action.RESET)
    for _ in range(3):
        log.tally(Action.ESTOP, {"client": "10.0.0.9", "anonymous": True})
    with pytest.raises(sqlite3.IntegrityError, match="count up|append-only"), store.transaction() as conn:
        conn.execute(statement)
    assert log.query()[-1].detail["count"] == 3
