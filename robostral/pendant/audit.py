"""The audit log: who did what and when, in an append-only table, viewable and exportable as CSV.

Rows are only ever inserted (SQLite triggers abort any UPDATE or DELETE on the table). A change and
its audit row are written in the same transaction, so one never exists without the other.
"""

from __future__ import annotations

import csv
import dataclasses
import enum
import io
import json
from collections.abc import Mapping
from datetime import datetime, timezone

from robostral.pendant.errors import BadRequest
from robostral.pendant.store import SYSTEM_CLOCK, Clock, Store

MAX_QUERY_ROWS = 10_000
CSV_COLUMNS = ("id", "time", "user", "action", "detail")


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

    def query(self, *, since: float | None = None, until: float | None = None, user: str | None = None,
              action: Action | str | None = None, limit: int = 1000) -> list[AuditEntry]:
        """The newest ``limit`` rows (at most MAX_QUERY_ROWS) matching every filter given, oldest first.

        ``since`` is inclusive and ``until`` exclusive (Unix seconds); ``action`` may be its text.
        """
        if not 1 <= limit <= MAX_QUERY_ROWS:
            raise BadRequest(f"limit must be 1 to {MAX_QUERY_ROWS}, got {limit}")
        where, params = [], []
        if since is not None:
            where.append("at >= ?")
            params.append(since)
        if until is not None:
            where.append("at < ?")
            params.append(until)
        if user is not None:
            where.append("user = ?")
            params.append(user)
        if action is not None:
            try:
                action = Action(action)
            except ValueError:
                raise BadRequest(f"action must be one of {', '.join(a.value for a in Action)}; "
                                 f"got {action!r}") from None
            where.append("action = ?")
            params.append(action.value)
        sql = "SELECT id, at, user, action, detail FROM audit"
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows = self._store.connection().execute(f"{sql} ORDER BY id DESC LIMIT ?", (*params, limit)).fetchall()
        return [AuditEntry(r["id"], r["at"], r["user"], Action(r["action"]), json.loads(r["detail"]))
                for r in reversed(rows)]

    def export_csv(self, **filters) -> str:
        """``query(**filters)`` as CSV with a header row: id, time (ISO 8601 UTC), user, action, detail (JSON)."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        writer.writerows(entry.csv_row() for entry in self.query(**filters))
        return out.getvalue()
