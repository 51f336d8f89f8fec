"""Users, passwords, sessions, CSRF and login rate limits on a real database, with a clock the test moves."""

from __future__ import annotations

import argparse
import dataclasses

import argon2
import pytest
from pendant_helpers import PASSWORD, FakeClock, open_pendant, with_users

from robostral.commands import pendant as pendant_command
from robostral.pendant.audit import Action
from robostral.pendant.auth import Auth, AuthPolicy, check_csrf, cookie_params
from robostral.pendant.errors import BadRequest, Conflict, Forbidden, RateLimited, Unauthorized
from robostral.pendant.roles import REQUIRED_ROLE, Permission, Role, allowed, require
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


def test_failed_logins_for_a_name_are_rate_limited_until_the_window_passes(pendant, users, clock):
    for i in range(5):
        with pytest.raises(Unauthorized):
            pendant.auth.login("eve", "wrong password!", f"10.0.0.{i}")  # from five addresses
        clock.advance(10)
    with pytest.raises(RateLimited) as caught:
        pendant.auth.login("eve", PASSWORD, "10.0.1.1")  # even the right password waits
    assert caught.value.status == 429
    assert caught.value.retry_after == 300 - 50
    assert f"{caught.value.retry_after} s" in str(caught.value)
    pendant.auth.login("ada", PASSWORD, "10.0.1.1")  # another name is not limited
    clock.advance(caught.value.retry_after - 1)
    with pytest.raises(RateLimited):
        pendant.auth.login("eve", PASSWORD, "10.0.1.1")
    clock.advance(1)  # the first failure left the window: one more attempt is allowed
    assert pendant.auth.login("eve", PASSWORD, "10.0.1.1").user.name == "eve"
    # success cleared the name's count: four new failures are not yet a limit
    for _ in range(4):
        with pytest.raises(Unauthorized):
            pendant.auth.login("eve", "wrong password!", "10.0.2.1")
    pendant.auth.login("eve", PASSWORD, "10.0.2.2")


def test_failed_logins_from_one_client_are_rate_limited_across_names(pendant, users, clock):
    for name in ["a1", "a2", "a3", "a4", "a5"]:
        with pytest.raises(Unauthorized):
            pendant.auth.login(name, PASSWORD, "10.9.9.9")
    with pytest.raises(RateLimited):
        pendant.auth.login("eve", PASSWORD, "10.9.9.9")
    assert pendant.auth.login("eve", PASSWORD, "10.9.9.8").user.name == "eve"
    clock.advance(300)
    assert pendant.auth.login("eve", PASSWORD, "10.9.9.9").user.name == "eve"
    assert pendant.audit.query(action=Action.LOGIN_FAILED)[-1].detail["rate_limited"] is True


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
