"""The pendant's database: one SQLite file in WAL mode, its schema and migrations, and transactions.

Thread use: every thread gets its own connection (SQLite connections must not be shared while in
use), made on first use and kept for the thread's life; WAL lets those readers run beside one
writer, and a writer waits up to ``busy_timeout_s`` for another's commit. Connections run in
autocommit mode, so a read is its own snapshot and every write goes through ``transaction()``:
``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back on any exception, so the file never holds half a
change, even if the process is killed. A ``transaction()`` inside another on the same thread is a
savepoint: it rolls back alone when it fails, and commits with the outer one.

The schema is versioned with ``PRAGMA user_version``: ``MIGRATIONS[i]`` takes version i to i + 1, and
opening a file applies the missing ones in one transaction. Times are Unix seconds (UTC).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

# A time source, Unix seconds; injected so tests can move time without sleeping.
Clock = Callable[[], float]
SYSTEM_CLOCK: Clock = time.time

_APPEND_ONLY = """CREATE TRIGGER {table}_no_{verb} BEFORE {verb} ON {table}
BEGIN SELECT RAISE(ABORT, '{table} rows are append-only: they cannot be changed or deleted'); END"""
_TALLIES_COUNT_UP = "audit tallies only count up: they cannot be lowered, moved or deleted"

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE users (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE COLLATE NOCASE,
            role TEXT NOT NULL CHECK (role IN ('operator', 'engineer', 'admin')),
            password_hash TEXT NOT NULL,
            created REAL NOT NULL,
            disabled INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)))""",
        """CREATE TABLE sessions (
            token_hash TEXT PRIMARY KEY,
            user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            csrf_token TEXT NOT NULL,
            created REAL NOT NULL,
            expires REAL NOT NULL,
            last_seen REAL NOT NULL)""",
        "CREATE INDEX sessions_user ON sessions(user_id)",
        """CREATE TABLE login_attempts (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            client TEXT NOT NULL,
            at REAL NOT NULL)""",
        "CREATE INDEX login_attempts_name ON login_attempts(name, at)",
        "CREATE INDEX login_attempts_client ON login_attempts(client, at)",
        """CREATE TABLE waypoints (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            joints TEXT NOT NULL,
            tool_pose TEXT,
            created_by INTEGER NOT NULL REFERENCES users(id),
            created_at REAL NOT NULL)""",
        """CREATE TABLE programs (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            current_version INTEGER NOT NULL,
            approved_version INTEGER,
            deleted INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)))""",
        """CREATE TABLE program_versions (
            program_id INTEGER NOT NULL REFERENCES programs(id),
            version INTEGER NOT NULL CHECK (version >= 1),
            document TEXT NOT NULL,
            created_by INTEGER NOT NULL REFERENCES users(id),
            created_at REAL NOT NULL,
            PRIMARY KEY (program_id, version))""",
        _APPEND_ONLY.format(table="program_versions", verb="UPDATE"),
        _APPEND_ONLY.format(table="program_versions", verb="DELETE"),
        """CREATE TABLE audit (
            id INTEGER PRIMARY KEY,
            at REAL NOT NULL,
            user TEXT,
            action TEXT NOT NULL,
            detail TEXT NOT NULL)""",
        "CREATE INDEX audit_at ON audit(at)",
        _APPEND_ONLY.format(table="audit", verb="UPDATE"),
        _APPEND_ONLY.format(table="audit", verb="DELETE"),
    ),
    (  # version 2: anonymous events tallied (a row per kind and window, counted up); login limits by name and address
        """CREATE TABLE audit_tallies (
            audit_id INTEGER PRIMARY KEY REFERENCES audit(id),
            key TEXT NOT NULL UNIQUE,
            count INTEGER NOT NULL CHECK (count >= 1),
            last_at REAL NOT NULL)""",
        f"""CREATE TRIGGER audit_tallies_no_delete BEFORE DELETE ON audit_tallies
        BEGIN SELECT RAISE(ABORT, '{_TALLIES_COUNT_UP}'); END""",
        f"""CREATE TRIGGER audit_tallies_count_up BEFORE UPDATE ON audit_tallies
        WHEN NEW.audit_id IS NOT OLD.audit_id OR NEW.key IS NOT OLD.key OR NEW.count < OLD.count
          OR NEW.last_at < OLD.last_at
        BEGIN SELECT RAISE(ABORT, '{_TALLIES_COUNT_UP}'); END""",
        "DROP INDEX login_attempts_name",
        "CREATE INDEX login_attempts_pair ON login_attempts(name, client, at)",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)


class Store:
    """The database file at ``path`` (created with its folder if missing), migrated to SCHEMA_VERSION."""

    def __init__(self, path: str | Path, *, busy_timeout_s: float = 5.0):
        self.path = Path(path)
        self.busy_timeout_s = busy_timeout_s
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._migrate()

    def connection(self) -> sqlite3.Connection:
        """This thread's connection (rows as ``sqlite3.Row``); read with it, write inside ``transaction()``."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=self.busy_timeout_s, isolation_level=None,
                                   check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA synchronous = FULL")  # a commit survives a power cut, not only a crash
            self._local.conn, self._local.depth = conn, 0
            with self._lock:
                self._connections.append(conn)
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """All writes in the block commit together or not at all; nested blocks are savepoints."""
        conn = self.connection()
        depth = self._local.depth
        savepoint = f"nested_{depth}"
        conn.execute("BEGIN IMMEDIATE" if depth == 0 else f"SAVEPOINT {savepoint}")
        self._local.depth = depth + 1
        try:
            yield conn
            conn.execute("COMMIT" if depth == 0 else f"RELEASE {savepoint}")
        except BaseException:
            if conn.in_transaction:  # SQLite may have rolled back already (a failed COMMIT, a full disk)
                if depth == 0:
                    conn.execute("ROLLBACK")
                else:
                    conn.execute(f"ROLLBACK TO {savepoint}")
                    conn.execute(f"RELEASE {savepoint}")
            raise
        finally:
            self._local.depth = depth

    def close(self) -> None:
        """Close every thread's connection (at shutdown, when no request is running)."""
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self._local = threading.local()

    def _migrate(self) -> None:
        conn = self.connection()
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode != "wal":
            raise RuntimeError(f"{self.path}: SQLite refused WAL mode (journal_mode is {mode!r})")
        with self.transaction():
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise RuntimeError(f"{self.path} has schema version {version}, newer than this robostral's "
                                   f"{SCHEMA_VERSION}: upgrade robostral to open it")
            for statements in MIGRATIONS[version:]:
                for statement in statements:
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
