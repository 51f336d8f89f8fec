"""Users, passwords, sessions, CSRF and login rate limits on a real database, with a clock the test moves."""

from __future__ import annotations

import argparse
import dataclasses

import argon2
import pytest
from pendant_helpers import CHEAP, PASSWORD, FakeClock, open_pendant, with_users

from robostral.commands import pendant as pendant_command
from robostral.pendant.access.audit import Action
from robostral.pendant.access.auth import Auth, AuthPolicy, check_csrf, cookie_params
from robostral.pendant.access.roles import REQUIRED_ROLE, Permission, Role, allowed, require
from robostral.pendant.errors import BadRequest, Conflict, Forbidden, RateLimited, Unauthorized
from robostral.pendant.service import Pendant

CLIENT = "127.0.0.1"


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def pendant(tmp_path, clock):
    pendant = open_pendant(tmp_path / "pendant.db", clock)
    yield pendant
    pendant.close()


@pytest.fixture
def users(pendant):
    return with_users(pendant)


def test_the_default_hash_is_argon2_cffis_recommended_profile():
    assert AuthPolicy().hash_parameters == argon2.profiles.RFC_9106_LOW_MEMORY
    assert AuthPolicy().hash_parameters.type is argon2.Type.ID


def test_there_is_no_default_user_and_only_one_first_admin(pendant):
    assert pendant.auth.needs_first_admin()
    admin = pendant.auth.create_first_admin("ada", PASSWORD)
    assert (admin.name, admin.role, admin.disabled) == ("ada", Role.ADMIN, False)
    assert not pendant.auth.needs_first_admin()
    with pytest.raises(Conflict, match="first admin exists"):
        pendant.auth.create_first_admin("mallory", PASSWORD)
    assert [e.action for e in pendant.audit.query()] == [Action.USER_CREATED]


@pytest.mark.parametrize(("name", "password", "message"), [
    ("ada", "short", "password must be 10 to 1024 characters"),
    ("ada", "x" * 1025, "password must be 10 to 1024 characters"),
    ("", PASSWORD, "user name must be"),
    ("-ada", PASSWORD, "user name must be"),
    ("a d a", PASSWORD, "user name must be"),
    ("a" * 65, PASSWORD, "user name must be"),
])
def test_weak_passwords_and_bad_names_are_refused(pendant, name, password, message):
    with pytest.raises(BadRequest, match=message):
        pendant.auth.create_first_admin(name, password)
    assert pendant.auth.needs_first_admin()


def test_passwords_are_stored_as_argon2id_hashes_only(tmp_path, pendant, users):
    hashes = [row[0] for row in pendant.store.connection().execute("SELECT password_hash FROM users")]
    assert len(hashes) == 3 and all(h.startswith("$argon2id$") for h in hashes)
    session = pendant.auth.login("ada", PASSWORD, CLIENT)
    pendant.close()
    on_disk = b"".join(path.read_bytes() for path in tmp_path.glob("pendant.db*"))
    assert PASSWORD.encode() not in on_disk
    assert session.token.encode() not in on_disk  # only its SHA-256


def test_login_gives_a_session_found_by_its_token(pendant, users):
    session = pendant.auth.login("ADA", PASSWORD, CLIENT)  # user names are case-insensitive
    assert session.user == users[Role.ADMIN]
    assert len(session.token) >= 40 and len(session.csrf_token) >= 40
    assert pendant.auth.session_for(session.token) == session
    assert pendant.audit.query(action=Action.LOGIN)[0].user == "ada"
    params = cookie_params(session)
    assert (params["httponly"], params["samesite"], params["value"]) == (True, "strict", session.token)


@pytest.mark.parametrize("token", [None, "", "not-a-session", "ü" * 10])
def test_no_or_an_unknown_token_is_unauthorized(pendant, users, token):
    with pytest.raises(Unauthorized, match="log in"):
        pendant.auth.session_for(token)


def test_unknown_user_wrong_password_and_disabled_user_fail_alike(pendant, users):
    pendant.auth.set_disabled(users[Role.ADMIN], "otto", True)
    errors = []
    for name, password in [("nobody", PASSWORD), ("eve", "wrong password!"), ("otto", PASSWORD)]:
        with pytest.raises(Unauthorized) as caught:
            pendant.auth.login(name, password, f"10.0.0.{len(errors)}")
        errors.append((type(caught.value), str(caught.value)))
    assert errors == [(Unauthorized, "wrong user name or password")] * 3
    failed = pendant.audit.query(action=Action.LOGIN_FAILED)
    assert [(e.user, e.detail["name"]) for e in failed] == [(None, "nobody"), (None, "eve"), (None, "otto")]


def test_over_long_login_fields_are_bad_requests(pendant, users):
    with pytest.raises(BadRequest, match="length limit"):
        pendant.auth.login("a" * 65, PASSWORD, CLIENT)


def test_failed_logins_lock_out_only_that_name_from_that_address(pendant, users, clock):
    attacker, operator = "10.6.6.6", "10.0.0.1"
    for _ in range(5):
        with pytest.raises(Unauthorized):
            pendant.auth.login("eve", "wrong password!", attacker)
        clock.advance(10)
    with pytest.raises(RateLimited) as caught:
        pendant.auth.login("eve", PASSWORD, attacker)  # even the right password waits
    assert caught.value.status == 429
    assert caught.value.retry_after == 300 - 50
    assert f"{caught.value.retry_after} s" in str(caught.value)
    assert pendant.auth.login("eve", PASSWORD, operator).user.name == "eve"  # the operator is not locked out
    pendant.auth.login("ada", PASSWORD, attacker)  # nor another name at the attacker's address
    clock.advance(caught.value.retry_after - 1)
    with pytest.raises(RateLimited):
        pendant.auth.login("eve", PASSWORD, attacker)
    clock.advance(1)  # the first failure left the window: one more attempt is allowed
    assert pendant.auth.login("eve", PASSWORD, attacker).user.name == "eve"
    # success cleared the pair's count: four new failures are not yet a limit
    for _ in range(4):
        with pytest.raises(Unauthorized):
            pendant.auth.login("eve", "wrong password!", attacker)
    pendant.auth.login("eve", PASSWORD, attacker)


def test_failed_logins_from_one_client_are_rate_limited_across_names(pendant, users, clock):
    for i in range(pendant.auth.policy.max_client_failures):
        with pytest.raises(Unauthorized):
            pendant.auth.login(f"a{i}", PASSWORD, "10.9.9.9")
    with pytest.raises(RateLimited):
        pendant.auth.login("eve", PASSWORD, "10.9.9.9")
    assert pendant.auth.login("eve", PASSWORD, "10.9.9.8").user.name == "eve"
    clock.advance(300)
    assert pendant.auth.login("eve", PASSWORD, "10.9.9.9").user.name == "eve"
    assert pendant.audit.query(action=Action.LOGIN_FAILED)[-1].detail["rate_limited"] is True


def rows(pendant: Pendant) -> dict[str, int]:
    conn = pendant.store.connection()
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    return {table: conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] for table in tables}


@pytest.mark.parametrize("names", ["one name", "a new name each time"])
def test_a_thousand_failed_logins_from_one_address_add_a_few_rows_with_their_count(pendant, users, clock, names):
    before = rows(pendant)
    for i in range(1000):
        with pytest.raises((Unauthorized, RateLimited)):
            pendant.auth.login("eve" if names == "one name" else f"guess{i}", "wrong password!", "10.6.6.6")
        clock.advance(0.01)
    added = {table: count - before[table] for table, count in rows(pendant).items()}
    policy = pendant.auth.policy
    kinds = 2 if names == "one name" else policy.max_client_failures + 1  # the failures' rows, the refusals' row
    assert added.pop("audit") <= kinds and added.pop("audit_tallies") <= kinds, added  # not 1,000
    assert added.pop("login_attempts") <= policy.max_client_failures and not any(added.values()), added
    failed = pendant.audit.query(action=Action.LOGIN_FAILED)
    assert sum(entry.detail["count"] for entry in failed) == 1000  # every attempt is counted
    limited = [entry for entry in failed if entry.detail.get("rate_limited")]
    assert [entry.detail["client"] for entry in limited] == ["10.6.6.6"]
    exported = pendant.audit.export_csv(action="login_failed")
    assert '""count"": ' in exported and "10.6.6.6" in exported


def test_login_attempts_kept_for_the_limits_are_bounded(tmp_path, clock):
    policy = dataclasses.replace(CHEAP, max_login_attempts=50)
    pendant = Pendant.open(tmp_path / "pendant.db", policy=policy, clock=clock)
    with_users(pendant)
    for i in range(200):  # from 200 addresses: no limit applies
        with pytest.raises(Unauthorized):
            pendant.auth.login("eve", "wrong password!", f"10.2.{i // 250}.{i % 250}")
    assert rows(pendant)["login_attempts"] <= 50
    pendant.close()


def test_sessions_slide_while_used_end_when_idle_and_never_outlive_the_maximum(pendant, users, clock):
    policy = pendant.auth.policy
    session = pendant.auth.login("otto", PASSWORD, CLIENT)
    assert session.expires == clock.now + policy.session_idle_s
    clock.advance(policy.session_idle_s - 1)
    assert pendant.auth.session_for(session.token).expires == clock.now + policy.session_idle_s
    clock.advance(policy.session_idle_s - 1)  # still alive: the last use slid the expiry
    pendant.auth.session_for(session.token)
    clock.advance(policy.session_idle_s)
    with pytest.raises(Unauthorized, match="expired"):
        pendant.auth.session_for(session.token)
    with pytest.raises(Unauthorized, match="not logged in"):  # and it is gone
        pendant.auth.session_for(session.token)

    busy = pendant.auth.login("otto", PASSWORD, CLIENT)
    end = clock.now + policy.session_max_s
    while clock.now + 1800 < end:
        clock.advance(1800)
        assert pendant.auth.session_for(busy.token).expires <= end
    clock.advance(end - clock.now)
    with pytest.raises(Unauthorized, match="expired"):
        pendant.auth.session_for(busy.token)


def test_logout_ends_the_session(pendant, users):
    session = pendant.auth.login("eve", PASSWORD, CLIENT)
    pendant.auth.logout(session)
    with pytest.raises(Unauthorized):
        pendant.auth.session_for(session.token)
    assert pendant.audit.query(action=Action.LOGOUT)[0].user == "eve"


@pytest.mark.parametrize("header", [None, "", "wrong", "ü", "x" * 1000])
def test_a_missing_or_wrong_csrf_token_is_forbidden(pendant, users, header):
    session = pendant.auth.login("eve", PASSWORD, CLIENT)
    check_csrf(session, session.csrf_token)
    with pytest.raises(Forbidden, match="X-CSRF-Token"):
        check_csrf(session, header)


def test_every_permission_has_a_role_and_the_table_is_enforced():
    assert set(REQUIRED_ROLE) == set(Permission)
    for permission in (Permission.EDIT_PROGRAM, Permission.RESET_ESTOP, Permission.TEACH, Permission.CHOOSE_POLICY):
        assert not allowed(Role.OPERATOR, permission) and allowed(Role.ENGINEER, permission)
        with pytest.raises(Forbidden, match=f"operator may not {permission.value}: this needs the engineer"):
            require(Role.OPERATOR, permission)
    for permission in (Permission.STOP, Permission.JOG, Permission.RUN_PROGRAM, Permission.RUN_SKILL):
        require(Role.OPERATOR, permission)
    with pytest.raises(Forbidden, match="engineer may not manage users"):
        require(Role.ENGINEER, Permission.MANAGE_USERS)
    require(Role.ADMIN, Permission.MANAGE_USERS)


def test_only_admins_manage_users(pendant, users):
    for role in (Role.OPERATOR, Role.ENGINEER):
        with pytest.raises(Forbidden, match="manage users"):
            pendant.auth.create_user(users[role], "mallory", PASSWORD, Role.ADMIN)
        with pytest.raises(Forbidden):
            pendant.auth.set_role(users[role], users[role].name, Role.ADMIN)
        with pytest.raises(Forbidden):
            pendant.auth.users(users[role])
    assert [u.name for u in pendant.auth.users(users[Role.ADMIN])] == ["ada", "eve", "otto"]


def test_user_changes_take_effect_on_live_sessions(pendant, users):
    admin = users[Role.ADMIN]
    otto = pendant.auth.login("otto", PASSWORD, CLIENT)
    pendant.auth.set_role(admin, "otto", Role.ENGINEER)
    assert pendant.auth.session_for(otto.token).user.role == Role.ENGINEER
    pendant.auth.reset_password(admin, "otto", "a new password 2")
    with pytest.raises(Unauthorized):
        pendant.auth.session_for(otto.token)
    with pytest.raises(Unauthorized):
        pendant.auth.login("otto", PASSWORD, CLIENT)
    eve = pendant.auth.login("eve", PASSWORD, CLIENT)
    assert pendant.auth.set_disabled(admin, "eve", True).disabled
    with pytest.raises(Unauthorized):
        pendant.auth.session_for(eve.token)
    pendant.auth.set_disabled(admin, "eve", False)
    pendant.auth.login("eve", PASSWORD, CLIENT)
    changes = [e.detail for e in pendant.audit.query(action=Action.USER_CHANGED)]
    assert changes == [{"name": "otto", "role": "engineer"}, {"name": "otto", "password_reset": True},
                       {"name": "eve", "disabled": True}, {"name": "eve", "disabled": False}]


def test_names_are_unique_regardless_of_case_and_the_last_admin_stays(pendant, users):
    admin = users[Role.ADMIN]
    with pytest.raises(Conflict, match="exists already"):
        pendant.auth.create_user(admin, "EVE", PASSWORD, Role.OPERATOR)
    with pytest.raises(Conflict, match="last active admin"):
        pendant.auth.set_role(admin, "ada", Role.ENGINEER)
    with pytest.raises(Conflict, match="last active admin"):
        pendant.auth.set_disabled(admin, "ada", True)
    pendant.auth.set_role(admin, "eve", Role.ADMIN)
    assert pendant.auth.set_disabled(admin, "ada", True).disabled


def test_a_login_rehashes_a_password_hashed_with_older_parameters(tmp_path, clock):
    pendant = open_pendant(tmp_path / "pendant.db", clock)
    pendant.auth.create_first_admin("ada", PASSWORD)
    stronger = dataclasses.replace(argon2.profiles.CHEAPEST, time_cost=2)
    auth = Auth(pendant.store, pendant.audit, AuthPolicy(hash_parameters=stronger), clock)
    auth.login("ada", PASSWORD, CLIENT)
    stored = pendant.store.connection().execute("SELECT password_hash FROM users").fetchone()[0]
    assert argon2.extract_parameters(stored).time_cost == 2
    auth.login("ada", PASSWORD, CLIENT)


def create_admin(db, monkeypatch, password=None, prompts=()):
    parser = argparse.ArgumentParser()
    pendant_command.add_parser(parser.add_subparsers())
    args = parser.parse_args(["pendant", "create-admin", "--db", str(db), "--name", "ada"])
    if password is None:
        monkeypatch.delenv(pendant_command.PASSWORD_ENV, raising=False)
    else:
        monkeypatch.setenv(pendant_command.PASSWORD_ENV, password)
    answers = iter(prompts)
    monkeypatch.setattr(pendant_command.getpass, "getpass", lambda prompt: next(answers))
    return args.run(args)


def test_the_cli_creates_the_first_admin_once(tmp_path, monkeypatch, capsys):
    db = tmp_path / "new" / "pendant.db"
    assert create_admin(db, monkeypatch, prompts=["a password!", "another one"]) == 1
    assert "differ" in capsys.readouterr().err
    assert create_admin(db, monkeypatch, password="short") == 1
    assert "password must be 10 to 1024 characters" in capsys.readouterr().err
    assert create_admin(db, monkeypatch, password=PASSWORD) == 0  # the default (slow) hash profile
    assert "created admin 'ada'" in capsys.readouterr().out
    assert create_admin(db, monkeypatch, password=PASSWORD) == 1
    assert "has users already" in capsys.readouterr().err
    pendant = Pendant.open(db)
    assert pendant.auth.login("ada", PASSWORD, CLIENT).user.role == Role.ADMIN
    pendant.close()


def test_a_lookup_without_refresh_writes_nothing(pendant, users, clock):
    session = pendant.auth.login("otto", PASSWORD, CLIENT)
    clock.advance(pendant.auth.policy.refresh_after_s + 1)
    assert pendant.auth.session_for(session.token, refresh=False).expires == session.expires  # not slid
    clock.advance(pendant.auth.policy.session_idle_s)
    with pytest.raises(Unauthorized, match="expired"):
        pendant.auth.session_for(session.token, refresh=False)
    assert pendant.store.connection().execute("SELECT COUNT(*) FROM sessions").fetchone()[0] == 1  # left for later
