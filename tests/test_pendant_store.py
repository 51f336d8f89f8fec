"""The pendant database on a real SQLite file: WAL, schema versions, transactions that survive crashes."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from robostral.pendant.access.store import SCHEMA_VERSION, Store

ROOT = Path(__file__).resolve().parent.parent


def audit_count(store: Store) -> int:
    return store.connection().execute("SELECT COUNT(*) FROM audit").fetchone()[0]


def append(conn: sqlite3.Connection, action: str = "jog", detail: str = "{}") -> None:
    conn.execute("INSERT INTO audit (at, user, action, detail) VALUES (0, 'ada', ?, ?)", (action, detail))


def test_a_new_file_is_in_wal_mode_with_foreign_keys_and_the_current_schema(tmp_path):
    store = Store(tmp_path / "sub" / "pendant.db")
    conn = store.connection()
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"), store.transaction() as tx:
        tx.execute("INSERT INTO sessions VALUES ('h', 42, 'c', 0, 1, 0)")  # no user 42
    store.close()
    reopened = Store(tmp_path / "sub" / "pendant.db")  # migrations do not run twice
    assert reopened.connection().execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_a_file_from_a_newer_robostral_is_refused(tmp_path):
    path = tmp_path / "pendant.db"
    Store(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(RuntimeError, match="newer than this robostral"):
        Store(path)


def test_an_exception_inside_a_transaction_leaves_the_previous_state(tmp_path):
    store = Store(tmp_path / "pendant.db")
    with store.transaction() as conn:
        append(conn)
    with pytest.raises(RuntimeError, match="crash"), store.transaction() as conn:
        append(conn)
        append(conn)
        raise RuntimeError("crash")
    assert audit_count(store) == 1
    assert not store.connection().in_transaction


def test_a_failed_nested_transaction_rolls_back_alone(tmp_path):
    store = Store(tmp_path / "pendant.db")
    with store.transaction() as conn:
        append(conn, "estop")
        with pytest.raises(KeyError), store.transaction():
            append(conn, "jog")
            raise KeyError("inner")
        append(conn, "reset")
    actions = [r[0] for r in store.connection().execute("SELECT action FROM audit ORDER BY id")]
    assert actions == ["estop", "reset"]


def test_threads_write_through_their_own_connections(tmp_path):
    store = Store(tmp_path / "pendant.db")

    def work():
        for _ in range(20):
            with store.transaction() as conn:
                append(conn)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert audit_count(store) == 80


KILLED_WRITER = """
import sys, time
from robostral.pendant.access.store import Store
store = Store(sys.argv[1])
conn = store.connection()
conn.execute("PRAGMA cache_size = 8")  # a tiny cache: uncommitted pages spill into the WAL file
with store.transaction() as conn:
    for i in range(3000):
        conn.execute("INSERT INTO audit (at, user, action, detail) VALUES (?, 'ada', 'jog', ?)", (i, "x" * 1000))
    print("written", flush=True)
    time.sleep(60)  # killed here, before COMMIT
"""


def test_a_writer_killed_mid_transaction_leaves_the_previous_state(tmp_path):
    path = tmp_path / "pendant.db"
    store = Store(path)
    with store.transaction() as conn:
        append(conn, "estop")
    store.close()
    writer = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(path)], cwd=ROOT, stdout=subprocess.PIPE,
                              text=True)
    try:
        assert writer.stdout.readline().strip() == "written"
        assert (tmp_path / "pendant.db-wal").stat().st_size > 1_000_000  # half a change really is on disk
    finally:
        writer.kill()  # SIGKILL: no rollback, no cleanup
        writer.wait(timeout=10)
    reopened = Store(path)
    conn = reopened.connection()
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert [tuple(r) for r in conn.execute("SELECT action FROM audit")] == [("estop",)]


def test_a_file_of_schema_version_1_is_migrated_keeping_its_rows(tmp_path):
    from robostral.pendant.access.store import MIGRATIONS

    path = tmp_path / "pendant.db"
    with sqlite3.connect(path) as conn:  # what a pendant before the audit tallies wrote
        for statement in MIGRATIONS[0]:
            conn.execute(statement)
        append(conn, "estop")
        conn.execute("PRAGMA user_version = 1")
    conn.close()
    store = Store(path)
    conn = store.connection()
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert [r[0] for r in conn.execute("SELECT action FROM audit")] == ["estop"]
    assert conn.execute("SELECT COUNT(*) FROM audit_tallies").fetchone()[0] == 0
    assert "login_attempts_pair" in {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
