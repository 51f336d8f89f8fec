"""The audit log: who did what and when, in an append-only table, viewable and exportable as CSV.

Rows are only ever inserted (SQLite triggers abort any UPDATE or DELETE on the table). A change and
its audit row are written in the same transaction, so one never exists without the other.

Anonymous events (failed logins, e-stops pressed without a session) are *tallied* instead, so that
traffic nobody has to log in for cannot grow the database without bound: the first event of a kind
(its action and detail) in a ``TALLY_WINDOW_S`` window appends an ordinary audit row, and the rest
count up that row's counter in ``audit_tallies`` (whose triggers let a count only go up). Past
``MAX_TALLIES_PER_WINDOW`` kinds of one action in a window, the rest share one ``{"overflow": true}``
row. Queries and the CSV export show a tallied row's ``count`` and ``last_at`` (Unix seconds) in its detail.
"""

from __future__ import annotations

import csv
import dataclasses
import enum
import io
import json
import sqlite3
from collections.abc import Mapping
from datetime import datetime, timezone

from robostral.pendant.access.store import SYSTEM_CLOCK, Clock, Store
from robostral.pendant.errors import BadRequest

MAX_QUERY_ROWS = 10_000
CSV_COLUMNS = ("id", "time", "user", "action", "detail")
TALLY_WINDOW_S = 3600.0  # one row per kind of anonymous event and hour
MAX_TALLIES_PER_WINDOW = 100  # kinds of one action in a window; more share one overflow row
OVERFLOW = {"overflow": True}


class Action(str, enum.Enum):
    """The fixed vocabulary of audited events."""

    LOGIN = "login"
    LOGIN_FAILED = "login_failed"
    LOGOUT = "logout"
    USER_CREATED = "user_created"
    USER_CHANGED = "user_changed"
    JOG = "jog"
    MOVE = "move"
    ESTOP = "estop"
    RESET = "reset"
    WAYPOINT_SAVED = "waypoint_saved"
    PROGRAM_SAVED = "program_saved"
    PROGRAM_APPROVED = "program_approved"
    PROGRAM_DELETED = "program_deleted"
    PROGRAM_RUN = "program_run"
    PROGRAM_STOPPED = "program_stopped"
    SKILL = "skill"
    POLICY_CHANGED = "policy_changed"
    GRIPPER = "gripper"
    DEMONSTRATION_STARTED = "demonstration_started"
    DEMONSTRATION_STOPPED = "demonstration_stopped"
    DEMONSTRATION_KEPT = "demonstration_kept"
    DEMONSTRATION_DISCARDED = "demonstration_discarded"
    DEMONSTRATION_DELETED = "demonstration_deleted"


@dataclasses.dataclass(frozen=True)
class AuditEntry:
    id: int
    at: float  # Unix seconds
    user: str | None  # the user's name; None for a request nobody was logged in for
    action: Action
    detail: dict

    def csv_row(self) -> tuple[str | int, ...]:
        time = datetime.fromtimestamp(self.at, timezone.utc).isoformat(timespec="microseconds")
        return self.id, time, self.user or "", self.action.value, json.dumps(self.detail, sort_keys=True)


class AuditLog:
    def __init__(self, store: Store, clock: Clock = SYSTEM_CLOCK):
        self._store = store
        self._clock = clock

    def record(self, user: str | None, action: Action, detail: Mapping[str, object] | None = None) -> AuditEntry:
        """Append one row; inside a caller's ``store.transaction()`` it commits (or not) with the change."""
        action = Action(action)
        detail = dict(detail or {})
        text = json.dumps(detail, sort_keys=True, allow_nan=False)  # a TypeError here is a caller's bug
        at = self._clock()
        with self._store.transaction() as conn:
            cursor = conn.execute("INSERT INTO audit (at, user, action, detail) VALUES (?, ?, ?, ?)",
                                  (at, user, action.value, text))
        return AuditEntry(cursor.lastrowid, at, user, action, detail)

    def tally(self, action: Action, detail: Mapping[str, object]) -> AuditEntry:
        """Count one anonymous event: a new row for the first of its kind in this window, else its row's count + 1.

        ``detail`` is the kind: keep what varies freely (a name an attacker picks) out of it where that could
        make every event a new kind. Returns the row as a query would show it.
        """
        action, detail = Action(action), dict(detail)
        at = self._clock()
        window = f"{action.value}|{int(at // TALLY_WINDOW_S)}|"  # the prefix of this window's keys
        with self._store.transaction() as conn:
            key = _tally_key(window, detail)
            row = _tallied(conn, key)
            if row is None and conn.execute("SELECT COUNT(*) FROM audit_tallies WHERE key >= ? AND key < ?",
                                            (window, window + "\uffff")).fetchone()[0] >= MAX_TALLIES_PER_WINDOW:
                detail, key = OVERFLOW, _tally_key(window, OVERFLOW)
                row = _tallied(conn, key)
            if row is None:
                audit_id = self.record(None, action, detail).id
                conn.execute("INSERT INTO audit_tallies (audit_id, key, count, last_at) VALUES (?, ?, 1, ?)",
                             (audit_id, key, at))
            else:
                audit_id = row["audit_id"]
                conn.execute("UPDATE audit_tallies SET count = count + 1, last_at = max(last_at, ?) "
                             "WHERE audit_id = ?", (at, audit_id))
            return self._select(conn, ["a.id = ?"], [audit_id], 1)[0]

    def query(self, *, since: float | None = None, until: float | None = None, user: str | None = None,
              action: Action | str | None = None, limit: int = 1000) -> list[AuditEntry]:
        """The newest ``limit`` rows (at most MAX_QUERY_ROWS) matching every filter given, oldest first.

        ``since`` is inclusive and ``until`` exclusive (Unix seconds); ``action`` may be its text.
        """
        if not 1 <= limit <= MAX_QUERY_ROWS:
            raise BadRequest(f"limit must be 1 to {MAX_QUERY_ROWS}, got {limit}")
        where, params = [], []
        if since is not None:
            where.append("a.at >= ?")
            params.append(since)
        if until is not None:
            where.append("a.at < ?")
            params.append(until)
        if user is not None:
            where.append("a.user = ?")
            params.append(user)
        if action is not None:
            try:
                action = Action(action)
            except ValueError:
                raise BadRequest(f"action must be one of {', '.join(a.value for a in Action)}; "
                                 f"got {action!r}") from None
            where.append("a.action = ?")
            params.append(action.value)
        return self._select(self._store.connection(), where, params, limit)

    @staticmethod
    def _select(conn: sqlite3.Connection, where: list[str], params: list[object], limit: int) -> list[AuditEntry]:
        """The newest ``limit`` rows matching ``where`` (SQL on ``audit a``), oldest first, tallies merged in."""
        sql = ("SELECT a.id, a.at, a.user, a.action, a.detail, t.count, t.last_at FROM audit a "
               "LEFT JOIN audit_tallies t ON t.audit_id = a.id")
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows = conn.execute(f"{sql} ORDER BY a.id DESC LIMIT ?", (*params, limit)).fetchall()
        return [AuditEntry(r["id"], r["at"], r["user"], Action(r["action"]), _detail(r)) for r in reversed(rows)]

    def export_csv(self, **filters) -> str:
        """``query(**filters)`` as CSV with a header row: id, time (ISO 8601 UTC), user, action, detail (JSON)."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        writer.writerows(entry.csv_row() for entry in self.query(**filters))
        return out.getvalue()


def _tallied(conn: sqlite3.Connection, key: str) -> sqlite3.Row | None:
    return conn.execute("SELECT audit_id FROM audit_tallies WHERE key = ?", (key,)).fetchone()


def _tally_key(window: str, detail: Mapping[str, object]) -> str:
    """The tally of events with this detail in this window (``window`` is "action|window number|")."""
    return window + json.dumps(detail, sort_keys=True, allow_nan=False)


def _detail(row: sqlite3.Row) -> dict:
    """A row's detail, with its tally's count and last time when it is a tallied row."""
    detail = json.loads(row["detail"])
    return detail if row["count"] is None else {**detail, "count": row["count"], "last_at": row["last_at"]}
