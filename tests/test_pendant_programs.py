"""Programs: strict validation with messages naming the field, the JSON document, and the versioned library."""

from __future__ import annotations

import json
import sqlite3
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pendant_helpers import FakeClock, open_pendant, with_users

from robostral.pendant.access.audit import Action, AuditLog
from robostral.pendant.access.auth import User
from robostral.pendant.access.roles import Role
from robostral.pendant.access.store import Store
from robostral.pendant.errors import BadRequest, Conflict, Forbidden, NotFound, TooLarge, Unsafe
from robostral.pendant.motion.planner import Planner
from robostral.pendant.motion.runner import ProgramRunner
from robostral.pendant.programs.document import (
    MAX_DOCUMENT_BYTES,
    Gripper,
    Move,
    Program,
    ProgramDocument,
    Skill,
    Wait,
    Waypoint,
    parse_program,
    program_from_json,
    program_to_json,
)
from robostral.pendant.programs.library import ProgramVersion
from robostral.safety import SafetyConfig

HOME = Waypoint("home", {"joint1": 0.0, "joint2": -0.5, "joint3": 1.25})
PICK = Waypoint("pick", {"joint1": 0.3, "joint2": -0.2, "joint3": 1.0}, (0.4, 0.0, 0.2, 1.0, 0.0, 0.0, 0.0))
PROGRAM = Program("pick red", (
    Move("home", "joint", 0.5), Gripper("open"), Move("pick", "linear", 0.2), Gripper("close"), Wait(0.5),
    Skill("put the red cube in the blue bin", 30), Move("home", "joint", 1),
))
DOCUMENT = ProgramDocument(PROGRAM, {"home": HOME, "pick": PICK})
DELETE = object()


def anywhere(waypoint: Waypoint) -> None:
    """The pose check for tests of storage alone (their made-up joints fit no robot); the real one is tested below."""


def body(*changes: tuple[tuple, object]) -> dict:
    """The DOCUMENT as parsed JSON, with each (path, value) set (or removed, for DELETE)."""
    result = json.loads(program_to_json(DOCUMENT))
    for path, value in changes:
        parent = result
        for key in path[:-1]:
            parent = parent[key]
        if value is DELETE:
            del parent[path[-1]]
        else:
            parent[path[-1]] = value
    return result


BAD_FIELDS = [
    ((("steps", 0, "type"), "teleport"), "steps[0]: type must be one of 'move', 'gripper', 'wait', 'skill'"),
    ((("steps", 0, "mode"), DELETE), "steps[0] (move): missing field(s) 'mode'"),
    ((("steps", 0, "extra"), 1), "steps[0] (move): unknown field(s) 'extra'"),
    ((("steps", 0, "speed"), "fast"), "steps[0] (move): speed must be a number in (0, 1]; got 'fast'"),
    ((("steps", 0, "speed"), 0), "steps[0] (move): speed must be a number in (0, 1]; got 0"),
    ((("steps", 0, "speed"), 1.5), "steps[0] (move): speed must be"),
    ((("steps", 0, "speed"), True), "steps[0] (move): speed must be"),
    ((("steps", 0, "mode"), "circular"), "steps[0] (move): mode must be one of 'joint', 'linear'"),
    ((("steps", 0, "waypoint"), 5), "steps[0] (move): waypoint must be 1 to 64 characters"),
    ((("steps", 1, "command"), "half"), "steps[1] (gripper): command must be one of 'open', 'close'"),
    ((("steps", 4, "seconds"), -1), "steps[4] (wait): seconds must be a number in [0, 600]"),
    ((("steps", 4, "seconds"), 601), "steps[4] (wait): seconds must be a number in [0, 600]"),
    ((("steps", 5, "timeout"), 0.5), "steps[5] (skill): timeout must be a number in [1, 600]"),
    ((("steps", 5, "timeout"), 601), "steps[5] (skill): timeout must be a number in [1, 600]"),
    ((("steps", 5, "instruction"), "x" * 161), "steps[5] (skill): the instruction has 161 characters; at most 160"),
    ((("steps", 5, "instruction"), " "), "steps[5] (skill): the instruction is empty"),
    ((("steps", 5, "instruction"), 7), "steps[5] (skill): an instruction must be text, got int"),
    ((("steps", 5, "instruction"), "pick; rm -rf"),
     "steps[5] (skill): an instruction may use only letters, digits, space and ,.'-?! ; it has ';'"),
    ((("steps", 5, "instruction"), "pick the cube\n"), "it has '\\n'"),
    ((("steps", 2), "move"), "steps[2] must be a JSON object"),
    ((("steps",), "none"), "steps must be a list"),
    ((("steps",), [{"type": "wait", "seconds": 1}] * 201), "steps: a program has at most 200 steps; this one has 201"),
    ((("name",), "x" * 65), "name must be 1 to 64 characters"),
    ((("name",), "a/b"), "name must be 1 to 64 characters"),
    ((("name",), " leading space"), "name must be 1 to 64 characters"),
    ((("name",), None), "name must be 1 to 64 characters"),
    ((("format",), "robostral-program/2"), "format must be 'robostral-program/1'"),
    ((("format",), DELETE), "the program document: missing field(s) 'format'"),
    ((("owner",), "ada"), "the program document: unknown field(s) 'owner'"),
    ((("waypoints", "pick"), DELETE), "waypoints: the steps move to 'pick', which the document does not define"),
    ((("waypoints", "spare"), {"joints": {"j": 0}}), "waypoints: 'spare' not used by any step"),
    ((("waypoints",), []), "waypoints must be an object"),
    ((("waypoints", "home", "joints"), {}), "waypoint 'home': joints must be an object of 1 to 32"),
    ((("waypoints", "home", "joints", "joint1"), "zero"), "waypoint 'home': joint 'joint1' must be a number"),
    ((("waypoints", "home", "joints", "joint 1"), 0), "waypoint 'home': joint names are"),
    ((("waypoints", "pick", "tool_pose"), [1, 2, 3]), "waypoint 'pick': tool_pose must be 7 numbers"),
    ((("waypoints", "pick", "tool_pose", 3), None), "waypoint 'pick': tool_pose[3] must be a number"),
    ((("waypoints", "home", "colour"), "red"), "waypoints['home']: unknown field(s) 'colour'"),
]


@pytest.mark.parametrize(("change", "message"), BAD_FIELDS, ids=[m[:50] for _, m in BAD_FIELDS])
def test_each_bad_field_is_refused_with_a_message_naming_it(change, message):
    with pytest.raises(BadRequest) as caught:
        program_from_json(json.dumps(body(change)))
    assert message in str(caught.value)


@pytest.mark.parametrize(("text", "message"), [
    ("[]", "the program document must be a JSON object"),
    ("{", "not valid JSON"),
    ('{"name": NaN}', "not valid JSON: NaN"),
    ("[" * 100_000, "not valid JSON"),
    (program_to_json(DOCUMENT).replace('"seconds": 0.5', '"seconds": ' + "9" * 5000), "not valid JSON"),
    (b"\xff\xfe", "not UTF-8"),
])
def test_text_that_is_not_a_json_object_is_refused(text, message):
    with pytest.raises(BadRequest, match=message):
        program_from_json(text)


def test_an_oversized_document_is_413_and_said_so():
    text = json.dumps(body((("waypoints", "home", "note"), "x" * MAX_DOCUMENT_BYTES)))
    with pytest.raises(TooLarge, match="the limit is 262144") as caught:
        program_from_json(text)
    assert caught.value.status == 413 and isinstance(caught.value, BadRequest)


def test_values_made_in_python_validate_themselves():
    with pytest.raises(BadRequest, match="speed"):
        Move("home", "joint", 2.0)
    with pytest.raises(BadRequest, match="seconds must be a number in \\[0, 600\\]; got a value too large to show"):
        Wait(10**5000)
    with pytest.raises(BadRequest, match=r"steps\[1\] must be a move"):
        Program("p", (Wait(1), "wait"))
    assert Program("p", [Wait(1)]).steps == (Wait(1),)  # a list is stored as a tuple
    assert parse_program({"name": "p", "steps": [{"type": "wait", "seconds": 1}]}) == Program("p", (Wait(1),))


def test_the_document_round_trips_and_is_stable():
    text = program_to_json(DOCUMENT)
    assert json.loads(text)["format"] == "robostral-program/1"
    assert program_from_json(text) == DOCUMENT
    assert program_to_json(program_from_json(text.encode())) == text


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


def paths(value, prefix=()):
    """Every path into a parsed JSON value."""
    yield prefix
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in items:
        yield from paths(child, (*prefix, key))


VALID_PATHS = [p for p in paths(body()) if p]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_arbitrary_json_raises_only_the_bad_request_family(data):
    kind = data.draw(st.sampled_from(["replace", "insert", "anything", "text", "bytes"]))
    if kind == "anything":
        text = json.dumps(data.draw(JSON))
    elif kind == "text":
        text = data.draw(st.text())
    elif kind == "bytes":
        text = data.draw(st.binary())
    else:
        path = data.draw(st.sampled_from(VALID_PATHS))
        if kind == "insert":
            path = (*path[:-1], data.draw(st.text(max_size=8)))
        try:
            changed = body((path, data.draw(JSON)))
        except (TypeError, IndexError):  # a string key into a list
            return
        text = json.dumps(changed)
    try:
        document = program_from_json(text)
    except BadRequest:
        return
    assert program_from_json(program_to_json(document)) == document


# --- the library on a real database ------------------------------------------------------------


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


@pytest.fixture
def taught(pendant, users):
    """The library with HOME and PICK taught by the engineer."""
    for waypoint in (HOME, PICK):
        pendant.programs.save_waypoint(users[Role.ENGINEER], waypoint, check=anywhere)
    return pendant.programs


def test_each_save_is_a_new_version_and_a_restart_keeps_them_all(tmp_path, clock, pendant, users, taught):
    eve = users[Role.ENGINEER]
    assert taught.save(eve, PROGRAM, base_version=0).current_version == 1
    shorter = Program(PROGRAM.name, PROGRAM.steps[:2])
    info = taught.save(eve, shorter, base_version=1)
    assert (info.current_version, info.approved_version, info.updated_by) == (2, None, "eve")
    pendant.close()
    reopened = open_pendant(tmp_path / "pendant.db", clock)
    assert [p.name for p in reopened.programs.programs()] == ["pick red"]
    assert reopened.programs.load("pick red").document.program == shorter
    assert reopened.programs.load("pick red", 1).document == DOCUMENT
    assert [w.name for w in reopened.programs.waypoints()] == ["home", "pick"]
    assert reopened.programs.waypoint("pick").created_by == "eve"
    with pytest.raises(NotFound, match="has no version 3: it has 1 to 2"):
        reopened.programs.load("pick red", 3)
    with pytest.raises(BadRequest, match="whole number"):
        reopened.programs.load("pick red", "1")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"), reopened.store.transaction() as conn:
        conn.execute("UPDATE program_versions SET document = '{}'")
    reopened.close()


def test_a_stale_base_version_is_a_conflict_and_changes_nothing(pendant, users, taught):
    eve = users[Role.ENGINEER]
    taught.save(eve, PROGRAM, base_version=0)
    with pytest.raises(Conflict, match="is at version 1, not 0"):
        taught.save(eve, PROGRAM, base_version=0)
    with pytest.raises(Conflict, match="does not exist, not 3"):
        taught.save(eve, Program("other", ()), base_version=3)
    assert [(p.name, p.current_version) for p in taught.programs()] == [("pick red", 1)]


def test_a_program_moving_to_an_unknown_waypoint_is_refused(pendant, users, taught):
    program = Program("p", (Move("nowhere", "joint", 0.5), Move("home", "joint", 0.5)))
    with pytest.raises(BadRequest, match="unknown waypoint\\(s\\) 'nowhere': teach them first"):
        taught.save(users[Role.ENGINEER], program)
    assert taught.programs() == []


def test_versions_freeze_waypoints_so_reteaching_changes_no_saved_version(pendant, users, taught):
    eve = users[Role.ENGINEER]
    taught.save(eve, PROGRAM)
    moved = Waypoint("home", {"joint1": 0.1, "joint2": -0.5, "joint3": 1.25})
    with pytest.raises(Conflict, match="'home' exists"):
        taught.save_waypoint(eve, moved, check=anywhere)
    taught.save_waypoint(eve, moved, check=anywhere, replace=True)
    assert taught.waypoint("home") == moved
    assert taught.load("pick red").document.waypoints["home"] == HOME
    assert taught.save(eve, PROGRAM).current_version == 2
    assert taught.load("pick red").document.waypoints["home"] == moved
    assert [e.detail["replaced"] for e in pendant.audit.query(action=Action.WAYPOINT_SAVED)] == [False, False, True]


def test_operators_run_only_the_approved_version(pendant, users, taught):
    eve, otto = users[Role.ENGINEER], users[Role.OPERATOR]
    taught.save(eve, PROGRAM)
    with pytest.raises(Forbidden, match="no approved version"):
        taught.runnable(otto, "pick red")
    with pytest.raises(Forbidden, match="operator may not approve programs"):
        taught.approve(otto, "pick red", 1, check=anywhere)
    assert taught.approve(eve, "pick red", 1, check=anywhere).approved_version == 1
    taught.save(eve, Program(PROGRAM.name, PROGRAM.steps[:1]))
    run = taught.runnable(otto, "pick red")
    assert (run.version, run.approved, run.document) == (1, True, DOCUMENT)
    assert taught.runnable(eve, "pick red").version == 2  # engineers may try the newest
    with pytest.raises(NotFound, match="no version 3"):
        taught.approve(eve, "pick red", 3, check=anywhere)
    assert pendant.audit.query(action=Action.PROGRAM_APPROVED)[0].detail == {"name": "pick red", "version": 1}


def test_operators_cannot_teach_edit_or_delete(pendant, users, taught):
    otto = users[Role.OPERATOR]
    taught.save(users[Role.ENGINEER], PROGRAM)
    with pytest.raises(Forbidden, match="teach waypoints"):
        taught.save_waypoint(otto, HOME, check=anywhere, replace=True)
    with pytest.raises(Forbidden, match="edit programs"):
        taught.save(otto, PROGRAM)
    with pytest.raises(Forbidden, match="edit programs"):
        taught.delete(otto, "pick red")
    with pytest.raises(Forbidden, match="edit programs"):
        taught.import_json(otto, program_to_json(DOCUMENT), check=anywhere)
    assert taught.load("pick red").version == 1


def test_delete_hides_a_program_keeps_its_versions_and_a_new_save_revives_it(pendant, users, taught):
    eve, otto = users[Role.ENGINEER], users[Role.OPERATOR]
    taught.save(eve, PROGRAM)
    taught.approve(eve, "pick red", 1, check=anywhere)
    taught.delete(eve, "pick red")
    assert taught.programs() == []
    with pytest.raises(NotFound, match="no program named 'pick red'"):
        taught.load("pick red")
    with pytest.raises(NotFound):
        taught.delete(eve, "pick red")
    assert pendant.store.connection().execute("SELECT COUNT(*) FROM program_versions").fetchone()[0] == 1
    info = taught.save(eve, PROGRAM, base_version=0)
    assert (info.current_version, info.approved_version) == (2, None)
    with pytest.raises(Forbidden, match="no approved version"):
        taught.runnable(otto, "pick red")


def test_export_import_round_trip_carries_the_waypoints(tmp_path, clock, pendant, users, taught):
    taught.save(users[Role.ENGINEER], PROGRAM)
    exported = taught.export_json("pick red")
    other = open_pendant(tmp_path / "other.db", clock)
    engineer = with_users(other)[Role.ENGINEER]
    other.programs.save_waypoint(engineer, HOME, check=anywhere)  # identical: reused
    assert other.programs.import_json(engineer, exported, check=anywhere).current_version == 1
    assert other.programs.load("pick red").document == DOCUMENT
    assert other.programs.waypoint("pick") == PICK
    assert other.programs.export_json("pick red") == exported
    assert [e.detail["name"] for e in other.audit.query(action=Action.WAYPOINT_SAVED)] == ["home", "pick"]
    other.close()


def test_an_import_with_a_conflicting_waypoint_changes_nothing(tmp_path, clock, pendant, users, taught):
    document = body((("name",), "imported"), (("waypoints", "home", "joints", "joint1"), 0.7))
    # a new waypoint first, so that it is created before the conflict is found (and must be rolled back)
    document["waypoints"] = {"pick2": document["waypoints"]["pick"], "home": document["waypoints"]["home"]}
    for step in document["steps"]:
        if step.get("waypoint") == "pick":
            step["waypoint"] = "pick2"
    before = pendant.audit.query()
    with pytest.raises(Conflict, match="waypoint 'home' exists with other positions"):
        taught.import_json(users[Role.ENGINEER], json.dumps(document), check=anywhere)
    assert taught.programs() == [] and [w.name for w in taught.waypoints()] == ["home", "pick"]
    assert pendant.audit.query() == before


# -- the pose check: teaching, importing and approving refuse the same poses ------------------------


@pytest.fixture(scope="module")
def panda() -> Planner:
    return Planner(SafetyConfig())


def everything(store: Store) -> dict[str, list[tuple]]:
    """Every row of every table: what "nothing stored" compares."""
    conn = store.connection()
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
    return {table: [tuple(row) for row in conn.execute(f"SELECT * FROM {table}")] for table in tables}


def panda_document(name: str, **joints: float) -> str:
    """A program moving to one waypoint: the Panda's home with ``joints`` changed (or added)."""
    pose = {f"panda_joint{i + 1}": q for i, q in enumerate((0.0, -0.3, 0.0, -2.2, 0.0, 1.9, 0.785))}
    steps = [{"type": "move", "waypoint": name, "mode": "joint", "speed": 0.5}]
    return json.dumps({"format": "robostral-program/1", "name": name, "steps": steps,
                       "waypoints": {name: {"joints": {**pose, **joints}}}})


REFUSED_POSES = [  # what the limits (with their margins), the robot's joint names and the workspace refuse
    ({"panda_joint1": 100.0}, "joint panda_joint1 position 100 is outside"),
    ({"panda_joint4": -0.02}, r"position -0.02 is outside .* less a 0.05 margin"),  # inside the URDF's range
    ({"elbow": 0.0}, "unknown elbow"),
    ({"panda_joint2": 1.7, "panda_joint4": -0.3}, "outside the workspace box"),
]
REFUSED_IDS = ["J1 at 100 rad", "J4 in its margin", "an unknown joint", "under the table"]


@pytest.mark.parametrize(("joints", "reason"), REFUSED_POSES, ids=REFUSED_IDS)
def test_import_refuses_a_pose_that_teaching_refuses_and_stores_nothing(pendant, users, panda, joints, reason):
    eve, text = users[Role.ENGINEER], panda_document("bad", **joints)
    waypoint = program_from_json(text).waypoints["bad"]
    with pytest.raises(Unsafe, match=reason):
        pendant.programs.save_waypoint(eve, waypoint, check=panda.check_pose)  # as teaching it would be
    before = everything(pendant.store)
    with pytest.raises(Unsafe, match=reason) as caught:
        pendant.programs.import_json(eve, text, check=panda.check_pose)
    assert caught.value.status == 422
    assert everything(pendant.store) == before
    assert pendant.programs.import_json(eve, panda_document("good"), check=panda.check_pose).current_version == 1


@pytest.mark.parametrize(("joints", "reason"), REFUSED_POSES, ids=REFUSED_IDS)
def test_approve_refuses_a_version_with_a_pose_that_teaching_refuses(pendant, users, panda, joints, reason):
    eve = users[Role.ENGINEER]
    pendant.programs.import_json(eve, panda_document("old", **joints), check=anywhere)  # as a check-less one did
    before = everything(pendant.store)
    with pytest.raises(Unsafe, match=reason):
        pendant.programs.approve(eve, "old", 1, check=panda.check_pose)
    assert everything(pendant.store) == before
    assert pendant.programs.programs()[0].approved_version is None


# -- the runner ------------------------------------------------------------------------------------


class _StillCell:
    """A cell whose arm stands still at home: all the runner asks of it for a program without moves."""

    def __init__(self) -> None:
        self._planner = Planner(SafetyConfig())

    def planner(self) -> Planner:
        return self._planner

    def joint_state(self) -> tuple[np.ndarray, np.ndarray]:
        limits = self._planner.limits
        return (limits.low + limits.high) / 2, np.zeros(len(limits.names))

    def speed_override(self) -> float:
        return 1.0

    def check_can_move(self) -> None:
        pass


def test_a_program_is_in_the_audit_log_as_soon_as_it_shows_as_ended(tmp_path):
    class SlowAudit(AuditLog):  # a slow disk: the end's row takes a while to write
        def record(self, user, action, detail=None):
            if action == Action.PROGRAM_STOPPED:
                time.sleep(0.3)
            return super().record(user, action, detail)

    audit = SlowAudit(Store(tmp_path / "pendant.db"))
    runner = ProgramRunner(_StillCell(), audit)
    document = ProgramDocument(parse_program({"name": "pause", "steps": [{"type": "wait", "seconds": 0.05}]}), {})
    runner.start(User(1, "eve", Role.ENGINEER, 0.0, False), ProgramVersion(document, 1, "eve", 0.0, True))
    deadline = time.monotonic() + 5
    while runner.status()["state"] != "finished" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert runner.status()["state"] == "finished"
    assert [entry.action for entry in audit.query()] == [Action.PROGRAM_RUN, Action.PROGRAM_STOPPED]
