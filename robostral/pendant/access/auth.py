"""Users, passwords, login sessions, CSRF tokens and login rate limiting.

Passwords are stored as argon2id hashes (argon2-cffi's recommended profile unless a test injects a
cheaper one). A session is a random token the browser keeps in an HttpOnly, SameSite=Strict cookie;
the database keeps only its SHA-256, so a copy of the file logs nobody in. Each session also has a
CSRF token that the page sends back in the ``X-CSRF-Token`` header of every state-changing request.
A failed login says the same thing whether the user is unknown, disabled or the password wrong, and
takes as long (an unknown user is checked against a dummy hash). Login attempts are counted per
(user name, client address) pair and per client address: past ``max_failures`` for the pair, or
``max_client_failures`` for the address, within ``failure_window_s``, that pair or address is refused
with RateLimited until the window lets it go. A name is never locked out everywhere, so an attacker
guessing from one address cannot lock its operator out at another. Failed logins are tallied in the
audit log (``AuditLog.tally``) and at most ``max_login_attempts`` attempts are kept, so that anonymous
traffic cannot grow the database without bound.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import hmac
import math
import re
import secrets
import sqlite3

import argon2

from robostral.pendant.access.audit import Action, AuditLog
from robostral.pendant.access.roles import Permission, Role, require
from robostral.pendant.access.store import SYSTEM_CLOCK, Clock, Store
from robostral.pendant.errors import BadRequest, Conflict, Forbidden, NotFound, RateLimited, Unauthorized

SESSION_COOKIE = "robostral_session"
CSRF_HEADER = "X-CSRF-Token"
MAX_CLIENT_LENGTH = 128
_USER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_LOGIN_FAILED = "wrong user name or password"


@dataclasses.dataclass(frozen=True)
class AuthPolicy:
    """Password, session and rate-limit rules, one default each (seconds throughout)."""

    hash_parameters: argon2.Parameters = dataclasses.field(default_factory=argon2.profiles.get_default_parameters)
    min_password_length: int = 10
    max_password_length: int = 1024
    session_idle_s: float = 3600.0  # a session unused this long ends
    session_max_s: float = 12 * 3600.0  # and none outlives a shift, however busy
    refresh_after_s: float = 60.0  # sliding expiry is written at most this often, so most reads stay reads
    max_failures: int = 5  # per (user name, client address)
    max_client_failures: int = 20  # per client address, whatever the names (people sharing an address mistype too)
    failure_window_s: float = 300.0
    max_login_attempts: int = 10_000  # rows kept for the limits; the oldest go first under a flood


@dataclasses.dataclass(frozen=True)
class User:
    id: int
    name: str
    role: Role
    created: float
    disabled: bool


@dataclasses.dataclass(frozen=True)
class Session:
    token: str  # the cookie value; the database keeps only its SHA-256
    csrf_token: str  # the page sends it back in the X-CSRF-Token header
    user: User
    created: float
    expires: float


def cookie_params(session: Session, *, secure: bool = False) -> dict[str, object]:
    """Keyword arguments for Starlette's ``Response.set_cookie``: HttpOnly, SameSite=Strict, the whole site.

    No Max-Age, so the browser drops it when closed; the server enforces the expiry. Pass ``secure`` behind TLS.
    """
    return {"key": SESSION_COOKIE, "value": session.token, "path": "/", "httponly": True, "samesite": "strict",
            "secure": secure}


def check_csrf(session: Session, header_value: str | None) -> None:
    """Forbidden unless ``header_value`` is the session's CSRF token (compared in constant time)."""
    if not header_value or not hmac.compare_digest(session.csrf_token.encode(), header_value.encode()):
        raise Forbidden(f"missing or wrong {CSRF_HEADER} header: reload the page and try again")


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Auth:
    """Users and sessions in ``store``, each change audited in the same transaction."""

    def __init__(self, store: Store, audit: AuditLog, policy: AuthPolicy | None = None, clock: Clock = SYSTEM_CLOCK):
        self.policy = policy or AuthPolicy()
        self._store = store
        self._audit = audit
        self._clock = clock
        self._hasher = argon2.PasswordHasher.from_parameters(self.policy.hash_parameters)

    # --- users ---------------------------------------------------------------------------------

    def needs_first_admin(self) -> bool:
        """True until a first user exists: the web layer then shows only the create-admin form."""
        return self._store.connection().execute("SELECT NOT EXISTS (SELECT 1 FROM users)").fetchone()[0] == 1

    def create_first_admin(self, name: str, password: str) -> User:
        """The first user, an admin; Conflict once any user exists (there is no default account)."""
        password_hash = self._new_hash(name, password)
        with self._store.transaction() as conn:
            if conn.execute("SELECT EXISTS (SELECT 1 FROM users)").fetchone()[0]:
                raise Conflict("the first admin exists already: log in, or ask an admin for an account")
            user = self._insert_user(conn, name, Role.ADMIN, password_hash)
            self._audit.record(name, Action.USER_CREATED, {"name": name, "role": Role.ADMIN.label, "first": True})
        return user

    def create_user(self, actor: User, name: str, password: str, role: Role) -> User:
        require(actor.role, Permission.MANAGE_USERS)
        password_hash = self._new_hash(name, password)
        with self._store.transaction() as conn:
            user = self._insert_user(conn, name, role, password_hash)
            self._audit.record(actor.name, Action.USER_CREATED, {"name": name, "role": role.label})
        return user

    def users(self, actor: User) -> list[User]:
        require(actor.role, Permission.MANAGE_USERS)
        rows = self._store.connection().execute("SELECT * FROM users ORDER BY name").fetchall()
        return [_user(row) for row in rows]

    def set_role(self, actor: User, name: str, role: Role) -> User:
        """Takes effect on the user's next request (sessions read the role live)."""
        require(actor.role, Permission.MANAGE_USERS)
        return self._change(actor, name, {"role": role.label}, {"role": role.label}, demotes=role != Role.ADMIN)

    def set_disabled(self, actor: User, name: str, disabled: bool) -> User:
        """A disabled user cannot log in and their sessions end at once."""
        require(actor.role, Permission.MANAGE_USERS)
        return self._change(actor, name, {"disabled": int(disabled)}, {"disabled": disabled}, demotes=disabled,
                            end_sessions=disabled)

    def reset_password(self, actor: User, name: str, password: str) -> User:
        """Sets a new password and ends the user's sessions."""
        require(actor.role, Permission.MANAGE_USERS)
        password_hash = self._new_hash(name, password)
        return self._change(actor, name, {"password_hash": password_hash}, {"password_reset": True},
                            demotes=False, end_sessions=True)

    def _change(self, actor: User, name: str, values: dict[str, object], detail: dict[str, object], *,
                demotes: bool, end_sessions: bool = False) -> User:
        """Update the user's ``values`` columns (the callers' fixed names) and audit ``detail``."""
        with self._store.transaction() as conn:
            target = self._user_named(conn, name)
            if demotes and target.role == Role.ADMIN and not target.disabled and self._active_admins(conn) == 1:
                raise Conflict(f"{target.name!r} is the last active admin: make another admin first")
            assignments = ", ".join(f"{column} = ?" for column in values)
            conn.execute(f"UPDATE users SET {assignments} WHERE id = ?", (*values.values(), target.id))
            if end_sessions:
                conn.execute("DELETE FROM sessions WHERE user_id = ?", (target.id,))
            self._audit.record(actor.name, Action.USER_CHANGED, {"name": target.name, **detail})
            return self._user_named(conn, target.name)

    def _new_hash(self, name: str, password: str) -> str:
        if not isinstance(name, str) or not _USER_NAME.fullmatch(name):
            raise BadRequest("user name must be 1 to 64 letters, digits, '_', '.' or '-', starting with a "
                             f"letter or digit; got {name!r:.80}")
        low, high = self.policy.min_password_length, self.policy.max_password_length
        if not isinstance(password, str) or not low <= len(password) <= high:
            raise BadRequest(f"password must be {low} to {high} characters long")
        return self._hasher.hash(password)

    def _insert_user(self, conn: sqlite3.Connection, name: str, role: Role, password_hash: str) -> User:
        try:
            conn.execute("INSERT INTO users (name, role, password_hash, created) VALUES (?, ?, ?, ?)",
                         (name, role.label, password_hash, self._clock()))
        except sqlite3.IntegrityError:
            raise Conflict(f"a user named {name!r} exists already") from None
        return self._user_named(conn, name)

    @staticmethod
    def _user_named(conn: sqlite3.Connection, name: str) -> User:
        row = conn.execute("SELECT * FROM users WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise NotFound(f"no user named {name!r:.80}")
        return _user(row)

    @staticmethod
    def _active_admins(conn: sqlite3.Connection) -> int:
        return conn.execute("SELECT COUNT(*) FROM users WHERE role = 'admin' AND NOT disabled").fetchone()[0]

    # --- sessions ------------------------------------------------------------------------------

    def login(self, name: str, password: str, client: str) -> Session:
        """A new session for the user, or Unauthorized (same message for every cause), or RateLimited.

        ``client`` is the requester's address. The attempt is counted before the password is checked,
        so parallel guesses cannot slip past the limit; a successful login clears its (name, client) count.
        """
        if not all(isinstance(v, str) for v in (name, password, client)):
            raise BadRequest("name, password and client must be text")
        if len(name) > 64 or len(password) > self.policy.max_password_length or len(client) > MAX_CLIENT_LENGTH:
            raise BadRequest("the user name, password or client address is over its length limit")
        key, now = name.lower(), self._clock()
        with self._store.transaction() as conn:
            retry_after = self._retry_after(conn, key, client, now)
            if not retry_after:
                self._count_attempt(conn, key, client, now)
                row = conn.execute("SELECT * FROM users WHERE name = ?", (name,)).fetchone()
        if retry_after:  # tallied per address alone: names picked at will would each make a row
            self._audit.tally(Action.LOGIN_FAILED, {"client": client, "rate_limited": True})
            raise RateLimited(f"too many failed logins: try again in {retry_after} s", retry_after)
        if not self._password_matches(row["password_hash"] if row else None, password) or row["disabled"]:
            self._audit.tally(Action.LOGIN_FAILED, {"name": name, "client": client})
            raise Unauthorized(_LOGIN_FAILED)
        new_hash = self._hasher.hash(password) if self._hasher.check_needs_rehash(row["password_hash"]) else None
        token, csrf_token = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        expires = now + min(self.policy.session_idle_s, self.policy.session_max_s)
        with self._store.transaction() as conn:
            conn.execute("DELETE FROM login_attempts WHERE name = ? AND client = ?", (key, client))
            conn.execute("DELETE FROM sessions WHERE expires <= ?", (now,))
            conn.execute("INSERT INTO sessions (token_hash, user_id, csrf_token, created, expires, last_seen) "
                         "VALUES (?, ?, ?, ?, ?, ?)", (_digest(token), row["id"], csrf_token, now, expires, now))
            if new_hash:  # the hash parameters were raised since this password was set
                conn.execute("UPDATE users SET password_hash = ? WHERE id = ?", (new_hash, row["id"]))
            self._audit.record(row["name"], Action.LOGIN, {"client": client})
        return Session(token, csrf_token, _user(row), now, expires)

    def session_for(self, token: str | None, *, refresh: bool = True) -> Session:
        """The live session with this cookie value, its expiry slid forward; Unauthorized otherwise.

        With ``refresh`` False nothing is written (no sliding, no clean-up), so the lookup never waits for
        another writer: for the e-stop, which must not wait on the database before it stops the arm.
        """
        row = None
        if isinstance(token, str) and token:
            row = self._store.connection().execute(
                "SELECT s.token_hash, s.csrf_token, s.created AS session_created, s.expires, s.last_seen, u.* "
                "FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = ?", (_digest(token),)
            ).fetchone()
        if row is None or row["disabled"]:
            raise Unauthorized("not logged in: log in first")
        now, expires = self._clock(), row["expires"]
        if now >= expires:
            if refresh:
                with self._store.transaction() as conn:
                    conn.execute("DELETE FROM sessions WHERE token_hash = ?", (row["token_hash"],))
            raise Unauthorized("the session expired: log in again")
        if refresh and now - row["last_seen"] >= self.policy.refresh_after_s:
            expires = min(now + self.policy.session_idle_s, row["session_created"] + self.policy.session_max_s)
            with self._store.transaction() as conn:
                conn.execute("UPDATE sessions SET last_seen = ?, expires = ? WHERE token_hash = ?",
                             (now, expires, row["token_hash"]))
        return Session(token, row["csrf_token"], _user(row), row["session_created"], expires)

    def logout(self, session: Session) -> None:
        with self._store.transaction() as conn:
            ended = conn.execute("DELETE FROM sessions WHERE token_hash = ?", (_digest(session.token),)).rowcount
            if ended:
                self._audit.record(session.user.name, Action.LOGOUT, {})

    def _retry_after(self, conn: sqlite3.Connection, key: str, client: str, now: float) -> int:
        """Seconds until the (name, client) pair's and the client's attempts in the window fall under the limits."""
        policy, wait = self.policy, 0.0
        for where, values, limit in (("name = ? AND client = ?", (key, client), policy.max_failures),
                                     ("client = ?", (client,), policy.max_client_failures)):
            row = conn.execute(f"SELECT at FROM login_attempts WHERE {where} AND at > ? ORDER BY at DESC "
                               "LIMIT 1 OFFSET ?", (*values, now - policy.failure_window_s, limit - 1)).fetchone()
            if row is not None:
                wait = max(wait, row["at"] + policy.failure_window_s - now)
        return math.ceil(wait)

    def _count_attempt(self, conn: sqlite3.Connection, key: str, client: str, now: float) -> None:
        """Record an attempt, forgetting those out of the window and, past ``max_login_attempts`` rows, the oldest."""
        conn.execute("DELETE FROM login_attempts WHERE at <= ?", (now - self.policy.failure_window_s,))
        newest = conn.execute("INSERT INTO login_attempts (name, client, at) VALUES (?, ?, ?)",
                              (key, client, now)).lastrowid
        conn.execute("DELETE FROM login_attempts WHERE id <= ?", (newest - self.policy.max_login_attempts,))

    def _password_matches(self, password_hash: str | None, password: str) -> bool:
        """Verify against the stored hash, or a dummy one for an unknown user so both take as long."""
        try:
            return self._hasher.verify(password_hash or self._dummy_hash, password) and password_hash is not None
        except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
            return False

    @functools.cached_property
    def _dummy_hash(self) -> str:
        return self._hasher.hash(secrets.token_urlsafe(16))


def _user(row: sqlite3.Row) -> User:
    return User(row["id"], row["name"], Role.parse(row["role"]), row["created"], bool(row["disabled"]))
