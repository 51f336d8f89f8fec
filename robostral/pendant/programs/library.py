"""The program library in SQLite: taught waypoints and versioned programs, approval and soft delete.

Each save of a program adds an immutable version (the table's triggers refuse UPDATE and DELETE)
holding the whole ``ProgramDocument``: the steps and the poses of the waypoints they use, as taught
at save time. Re-teaching a waypoint therefore changes no saved version: an approved version moves
the arm exactly as it did when an engineer approved it, and operators run only that version. Every
change is one transaction with its audit row.

Every way a pose enters the library or gets cleared for operators (teaching a waypoint, importing a
file, approving a version) passes each of its waypoints through the caller's ``check`` (the
planner's ``check_pose``: the robot's joints, limits with their margins, and workspace) first; a
refusal changes nothing.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Callable

from robostral.pendant.access.audit import Action, AuditLog
from robostral.pendant.access.auth import User
from robostral.pendant.access.roles import Permission, allowed, require
from robostral.pendant.access.store import SYSTEM_CLOCK, Clock, Store
from robostral.pendant.errors import BadRequest, Conflict, Forbidden, NotFound
from robostral.pendant.programs.document import Program, ProgramDocument, Waypoint, program_from_json, program_to_json

# Raises (Unsafe, say) for a waypoint the robot must not be sent to; returns None for one it may.
WaypointCheck = Callable[[Waypoint], None]


@dataclasses.dataclass(frozen=True)
class ProgramInfo:
    """A program as listed: its newest version and the one operators may run (None: not approved)."""

    name: str
    current_version: int
    approved_version: int | None
    updated_by: str
    updated_at: float


@dataclasses.dataclass(frozen=True)
class ProgramVersion:
    document: ProgramDocument
    version: int
    created_by: str
    created_at: float
    approved: bool  # this is the version operators may run


class ProgramLibrary:
    def __init__(self, store: Store, audit: AuditLog, clock: Clock = SYSTEM_CLOCK):
        self._store = store
        self._audit = audit
        self._clock = clock

    # --- waypoints -----------------------------------------------------------------------------

    def save_waypoint(self, actor: User, waypoint: Waypoint, *, check: WaypointCheck,
                      replace: bool = False) -> Waypoint:
        """Store a taught pose that passes ``check``; Conflict if its name is taken, unless ``replace`` (re-teach)."""
        require(actor.role, Permission.TEACH)
        check(waypoint)
        with self._store.transaction() as conn:
            exists = _find_waypoint(conn, waypoint.name) is not None
            if exists and not replace:
                raise Conflict(f"a waypoint named {waypoint.name!r} exists: choose another name, or re-teach it")
            values = (json.dumps(waypoint.joints), json.dumps(waypoint.tool_pose) if waypoint.tool_pose else None,
                      actor.id, self._clock(), waypoint.name)
            if exists:
                conn.execute("UPDATE waypoints SET joints = ?, tool_pose = ?, created_by = ?, created_at = ? "
                             "WHERE name = ?", values)
            else:
                conn.execute("INSERT INTO waypoints (joints, tool_pose, created_by, created_at, name) "
                             "VALUES (?, ?, ?, ?, ?)", values)
            self._audit.record(actor.name, Action.WAYPOINT_SAVED,
                               {"name": waypoint.name, "replaced": exists, **waypoint.to_dict()})
            return _find_waypoint(conn, waypoint.name)

    def waypoint(self, name: str) -> Waypoint:
        found = _find_waypoint(self._store.connection(), name)
        if found is None:
            raise NotFound(f"no waypoint named {name!r:.80}")
        return found

    def waypoints(self) -> list[Waypoint]:
        rows = self._store.connection().execute(f"{_WAYPOINT_SELECT} ORDER BY w.name").fetchall()
        return [_waypoint(row) for row in rows]

    # --- programs ------------------------------------------------------------------------------

    def save(self, actor: User, program: Program, *, base_version: int | None = None) -> ProgramInfo:
        """Store ``program`` as its next version, with the poses its waypoints have now.

        ``base_version`` is the version the editor started from (0 for a new program): if another save
        came in between, Conflict instead of silently overwriting it. None skips that check.
        """
        require(actor.role, Permission.EDIT_PROGRAM)
        with self._store.transaction() as conn:
            waypoints = {name: _find_waypoint(conn, name) for name in program.waypoint_names()}
            missing = [name for name, waypoint in waypoints.items() if waypoint is None]
            if missing:
                raise BadRequest(f"the steps move to unknown waypoint(s) {', '.join(map(repr, missing))}: "
                                 "teach them first")
            text = program_to_json(ProgramDocument(program, waypoints))
            row = conn.execute("SELECT * FROM programs WHERE name = ?", (program.name,)).fetchone()
            live = row is not None and not row["deleted"]
            if base_version is not None and base_version != (row["current_version"] if live else 0):
                now = f"is at version {row['current_version']}" if live else "does not exist"
                raise Conflict(f"program {program.name!r} {now}, not {base_version}: "
                               "someone saved it meanwhile; reload it and edit again")
            if row is None:
                program_id = conn.execute("INSERT INTO programs (name, current_version) VALUES (?, 0)",
                                          (program.name,)).lastrowid
                version = 1
            else:  # a deleted program comes back with its history, unapproved
                program_id, version = row["id"], row["current_version"] + 1
            conn.execute("INSERT INTO program_versions (program_id, version, document, created_by, created_at) "
                         "VALUES (?, ?, ?, ?, ?)", (program_id, version, text, actor.id, self._clock()))
            conn.execute("UPDATE programs SET current_version = ?, deleted = 0 WHERE id = ?", (version, program_id))
            self._audit.record(actor.name, Action.PROGRAM_SAVED,
                               {"name": program.name, "version": version, "steps": len(program.steps)})
            return self._info(conn, program.name)

    def programs(self) -> list[ProgramInfo]:
        """Every program not deleted, by name."""
        rows = self._store.connection().execute(f"{_INFO_SELECT} WHERE NOT p.deleted ORDER BY p.name").fetchall()
        return [_info(row) for row in rows]

    def load(self, name: str, version: int | None = None) -> ProgramVersion:
        """The program's ``version`` (default: the newest)."""
        conn = self._store.connection()
        row = _live_program(conn, name)
        version = _check_version(row, row["current_version"] if version is None else version)
        found = conn.execute(
            "SELECT v.document, v.version, v.created_at, u.name AS created_by FROM program_versions v "
            "JOIN users u ON u.id = v.created_by WHERE v.program_id = ? AND v.version = ?", (row["id"], version)
        ).fetchone()
        return ProgramVersion(program_from_json(found["document"]), found["version"], found["created_by"],
                              found["created_at"], found["version"] == row["approved_version"])

    def runnable(self, actor: User, name: str) -> ProgramVersion:
        """The version ``actor`` may run: the approved one for an operator, the newest for an engineer."""
        require(actor.role, Permission.RUN_PROGRAM)
        if allowed(actor.role, Permission.RUN_UNAPPROVED):
            return self.load(name)
        approved = _live_program(self._store.connection(), name)["approved_version"]
        if approved is None:
            raise Forbidden(f"program {name!r} has no approved version: an engineer must approve it first")
        return self.load(name, approved)

    def approve(self, actor: User, name: str, version: int, *, check: WaypointCheck) -> ProgramInfo:
        """Let operators run ``version`` (the one the engineer reviewed, named explicitly).

        Its waypoints must pass ``check``: a version saved before the robot's limits narrowed, or before
        imports were checked, is refused.
        """
        require(actor.role, Permission.APPROVE_PROGRAM)
        with self._store.transaction() as conn:
            row = _live_program(conn, name)
            _check_waypoints(self.load(name, _check_version(row, version)).document, check)
            conn.execute("UPDATE programs SET approved_version = ? WHERE id = ?", (version, row["id"]))
            self._audit.record(actor.name, Action.PROGRAM_APPROVED, {"name": name, "version": version})
            return self._info(conn, name)

    def delete(self, actor: User, name: str) -> None:
        """Hide the program and withdraw its approval; its versions stay (saving the name again revives it)."""
        require(actor.role, Permission.EDIT_PROGRAM)
        with self._store.transaction() as conn:
            row = _live_program(conn, name)
            conn.execute("UPDATE programs SET deleted = 1, approved_version = NULL WHERE id = ?", (row["id"],))
            self._audit.record(actor.name, Action.PROGRAM_DELETED, {"name": name, "version": row["current_version"]})

    def export_json(self, name: str, version: int | None = None) -> str:
        """A version as a program document (``document.FORMAT``) that carries its waypoints."""
        return program_to_json(self.load(name, version).document)

    def import_json(self, actor: User, text: str | bytes, *, check: WaypointCheck) -> ProgramInfo:
        """Save a program document as the program's next version, creating the waypoints it brings.

        Every waypoint in the file must pass ``check``, as a taught one does. A waypoint that exists with
        other positions is a Conflict (nothing is imported): rename it in the file, or re-teach the stored
        one. Identical ones are reused.
        """
        require(actor.role, Permission.EDIT_PROGRAM)
        require(actor.role, Permission.TEACH)
        document = program_from_json(text)
        _check_waypoints(document, check)
        with self._store.transaction() as conn:
            for waypoint in document.waypoints.values():
                stored = _find_waypoint(conn, waypoint.name)
                if stored is None:
                    self.save_waypoint(actor, waypoint, check=check)
                elif stored != waypoint:
                    raise Conflict(f"waypoint {waypoint.name!r} exists with other positions than the file's: "
                                   "rename it in the file, or re-teach the stored one")
            return self.save(actor, document.program)

    @staticmethod
    def _info(conn: sqlite3.Connection, name: str) -> ProgramInfo:
        return _info(conn.execute(f"{_INFO_SELECT} WHERE p.name = ?", (name,)).fetchone())


_WAYPOINT_SELECT = ("SELECT w.name, w.joints, w.tool_pose, w.created_at, u.name AS created_by "
                    "FROM waypoints w JOIN users u ON u.id = w.created_by")
_INFO_SELECT = ("SELECT p.name, p.current_version, p.approved_version, v.created_at, u.name AS created_by "
                "FROM programs p JOIN program_versions v ON v.program_id = p.id AND v.version = p.current_version "
                "JOIN users u ON u.id = v.created_by")


def _check_waypoints(document: ProgramDocument, check: WaypointCheck) -> None:
    for waypoint in document.waypoints.values():
        check(waypoint)


def _find_waypoint(conn: sqlite3.Connection, name: str) -> Waypoint | None:
    row = conn.execute(f"{_WAYPOINT_SELECT} WHERE w.name = ?", (name,)).fetchone()
    return None if row is None else _waypoint(row)


def _waypoint(row: sqlite3.Row) -> Waypoint:
    tool_pose = json.loads(row["tool_pose"]) if row["tool_pose"] else None
    return Waypoint(row["name"], json.loads(row["joints"]), tool_pose, row["created_by"], row["created_at"])


def _info(row: sqlite3.Row) -> ProgramInfo:
    return ProgramInfo(row["name"], row["current_version"], row["approved_version"], row["created_by"],
                       row["created_at"])


def _check_version(program: sqlite3.Row, version: object) -> int:
    """``version`` if the program has it; BadRequest for a non-integer, NotFound for one out of range."""
    if not isinstance(version, int) or isinstance(version, bool):
        raise BadRequest(f"a program version is a whole number; got {version!r:.20}")
    if not 1 <= version <= program["current_version"]:
        raise NotFound(f"program {program['name']!r} has no version {version}: "
                       f"it has 1 to {program['current_version']}")
    return version


def _live_program(conn: sqlite3.Connection, name: str) -> sqlite3.Row:
    row = conn.execute("SELECT * FROM programs WHERE name = ? AND NOT deleted", (name,)).fetchone()
    if row is None:
        raise NotFound(f"no program named {name!r:.80}")
    return row
