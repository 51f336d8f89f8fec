"""The teach pendant's API over HTTP and its websocket, against the real server in the real graph.

`robostral up --sim` starts the simulated cell with the pendant in it (its own port, database
file and policies folder); the test is the browser (httpx and websockets, no rendering) and its
Probe watches /joint_states, the pendant's commands and the supervisor. The SQLite file is
read directly to show that refused requests changed nothing. Tests run in file order: they share
one cell and one database (the rate-limit test comes last, it locks the test's address out).
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest
from ros_helpers import Probe, RosProcess, Topic, free_port, hostile, robostral_up, wait_until
from sensor_msgs.msg import JointState
from std_msgs.msg import String
from trajectory_msgs.msg import JointTrajectory
from websockets.sync.client import connect

from robostral.pendant.motion.planner import Planner
from robostral.pendant.motion.streaming import HEARTBEAT_TIMEOUT
from robostral.ros import contract
from robostral.safety import SafetyConfig

PASSWORD = "correct horse battery"
PERIOD = 0.05  # s: the pendant's control period
AT_REST = 0.01  # rad/s
# The Panda reaching down through the table: its tool point at z = -0.09 m, under the workspace box.
LOW = {"panda_joint1": 0.0, "panda_joint2": 1.7, "panda_joint3": 0.0, "panda_joint4": -0.3, "panda_joint5": 0.0,
       "panda_joint6": 1.9, "panda_joint7": 0.785}
HOME = {**LOW, "panda_joint2": -0.3, "panda_joint4": -2.2}  # the Panda's home: every check passes


@dataclass
class Cell:
    graph: RosProcess
    probe: Probe
    base: str
    db: Path
    joint_states: Topic
    commands: Topic  # the pendant's trajectories to the supervisor
    state: Topic  # the supervisor's latched state

    def client(self, **headers) -> httpx.Client:
        return httpx.Client(base_url=self.base, headers={"Origin": self.base, **headers}, timeout=30.0)

    def arm(self) -> np.ndarray:
        return np.array(self.joint_states.latest().position[:7])

    def rows(self, table: str) -> int:
        with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True) as conn:
            return conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]

    def tables(self) -> dict[str, list[tuple]]:
        """Every row of every table but the sessions (whose expiry slides forward as they are used)."""
        with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True) as conn:
            names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            return {name: conn.execute(f"SELECT * FROM {name}").fetchall() for name in names if name != "sessions"}


def answers(base: str) -> bool:
    try:
        return httpx.get(f"{base}/api/setup", timeout=1.0).status_code == 200
    except httpx.TransportError:
        return False


@pytest.fixture(scope="module")
def cell(tmp_path_factory):
    root = tmp_path_factory.mktemp("pendant")
    policies = root / "policies" / "broken"
    policies.mkdir(parents=True)
    (policies / "card.yaml").write_text("name: broken\nrobot: panda\nfiles: {policy.onnx: '00'}\n")
    port = free_port()
    arguments = ["--sim", "--task", "reach", "--param", "sim_driver.image_size=32",
                 "--param", "sim_driver.randomization_level=0.0", "--param", f"pendant.db={root / 'pendant.db'}",
                 "--param", f"pendant.port={port}", "--param", f"pendant.policies_dir={policies.parent}"]
    with robostral_up(arguments, root / "up.log") as (graph, probe):
        base = f"http://127.0.0.1:{port}"
        wait_until(lambda: answers(base), 60, f"the pendant at {base}")
        yield Cell(graph, probe, base, root / "pendant.db",
                   probe.record(contract.JOINT_STATES, JointState, contract.JOINT_STATES_QOS),
                   probe.record(contract.PENDANT_TRAJECTORY, JointTrajectory, contract.POLICY_TRAJECTORY_QOS),
                   probe.record(contract.SUPERVISOR_STATE, String, contract.LATCHED_QOS))


def login(cell: Cell, name: str) -> httpx.Client:
    client = cell.client()
    response = client.post("/api/login", json={"name": name, "password": PASSWORD})
    assert response.status_code == 200, response.text
    client.headers["X-CSRF-Token"] = response.json()["csrf_token"]
    return client


@pytest.fixture(scope="module")
def users(cell) -> dict[str, httpx.Client]:
    """Logged-in clients of the admin 'ada', the engineer 'eve' and the operator 'otto'."""
    with cell.client() as anonymous:
        if anonymous.get("/api/setup").json()["needs_first_admin"]:
            assert anonymous.post("/api/setup", json={"name": "ada", "password": PASSWORD}).status_code == 201
    clients = {"admin": login(cell, "ada")}
    for name, role in (("eve", "engineer"), ("otto", "operator")):
        response = clients["admin"].post("/api/users", json={"name": name, "password": PASSWORD, "role": role})
        assert response.status_code == 201, response.text
        clients[role] = login(cell, name)
    yield clients
    for client in clients.values():
        client.close()


@pytest.fixture
def ready(cell, users):
    """The arm at rest, nothing running, the supervisor not latched."""
    engineer = users["engineer"]
    if engineer.get("/api/run").json()["state"] in ("running", "paused"):
        engineer.post("/api/run/stop", json={})
    state = wait_until(cell.state.latest, 15, "the supervisor's latched state")  # late joiners get it, not at once
    if state.data.startswith(("estopped", "fault")):
        assert engineer.post("/api/reset", json={"confirm": True}).status_code == 200
    engineer.post("/api/speed", json={"percent": 100})
    settled = time.monotonic()
    cell.joint_states.wait_for(lambda m: max(map(abs, m.velocity)) < AT_REST, after=settled, what="the arm at rest")
    return cell


def wait_program(client: httpx.Client, states: tuple[str, ...], timeout: float = 30.0) -> dict:
    return wait_until(lambda: (s := client.get("/api/run").json())["state"] in states and s, timeout,
                      f"the program {states}", lambda: client.get("/api/run").json())


def test_first_run_admin_form_and_the_page(cell):
    with cell.client() as client:
        page = client.get("/")
        assert page.status_code == 200 and 'data-testid="estop"' in page.text
        assert page.headers["x-frame-options"] == "DENY"
        assert "default-src 'self'" in page.headers["content-security-policy"]
        assert client.get("/app.js").status_code == 200 and client.get("/style.css").status_code == 200
        assert client.get("/api/setup").json() == {"needs_first_admin": True}
        foreign = client.post("/api/setup", json={"name": "ada", "password": PASSWORD},
                              headers={"Origin": "http://evil.example"})
        assert foreign.status_code == 403 and "refused" in foreign.json()["error"]
        assert client.get("/api/setup").json() == {"needs_first_admin": True}
        weak = client.post("/api/setup", json={"name": "ada", "password": "short"})
        assert weak.status_code == 400 and "password" in weak.json()["error"]
        created = client.post("/api/setup", json={"name": "ada", "password": PASSWORD})
        assert created.status_code == 201 and created.json()["user"]["role"] == "admin"
        cookie = created.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        again = client.post("/api/setup", json={"name": "mallory", "password": PASSWORD})
        assert again.status_code == 409


def test_login_logout_csrf_and_anonymous(cell, users):
    with cell.client() as client:
        assert client.get("/api/state").status_code == 401
        wrong = client.post("/api/login", json={"name": "eve", "password": "not the password"})
        assert wrong.status_code == 401 and wrong.json()["error"] == "wrong user name or password"
    client = login(cell, "eve")
    csrf = client.headers.pop("X-CSRF-Token")
    refused = client.post("/api/speed", json={"percent": 50})
    assert refused.status_code == 403 and "X-CSRF-Token" in refused.json()["error"]
    assert client.post("/api/speed", json={"percent": 50}, headers={"X-CSRF-Token": "forged"}).status_code == 403
    # the page shows the supervisor's override before anyone has set it (from its diagnostics, once heard), and
    # the arm's joints once the first joint state has come in: the graph may still be starting
    state = wait_until(lambda: (s := client.get("/api/state").json())["safety"]["speed_override"] is not None
                       and s["joints"] is not None and s, 15, "the speed override and the joints on /api/state")
    assert state["safety"]["speed_override"] == 1.0 and len(state["joints"]["names"]) == 8
    client.headers["X-CSRF-Token"] = csrf
    assert client.post("/api/speed", json={"percent": 50}).json() == {"speed_override": 0.5}
    assert client.get("/api/state").json()["safety"]["speed_override"] == 0.5
    assert client.post("/api/logout").status_code == 204
    assert client.get("/api/state").status_code == 401


def test_login_from_another_site_is_refused(cell, users):
    with cell.client(Origin="http://evil.example") as client:
        response = client.post("/api/login", json={"name": "eve", "password": PASSWORD})
        assert response.status_code == 403 and "set-cookie" not in response.headers
    with cell.client(Host="attacker.example:80", Origin="http://attacker.example:80") as client:  # DNS rebinding
        assert client.get("/api/setup").status_code == 403
        assert client.post("/api/login", json={"name": "eve", "password": PASSWORD}).status_code == 403


def test_roles_operator_may_not_do_engineer_actions(cell, users):
    operator, engineer = users["operator"], users["engineer"]
    for method, path, body in (("POST", "/api/waypoints", {"name": "w"}), ("POST", "/api/reset", {"confirm": True}),
                               ("POST", "/api/programs", {"name": "p", "steps": []}), ("GET", "/api/audit", None),
                               ("POST", "/api/policies/choose", {"name": "broken"}), ("GET", "/api/users", None)):
        response = operator.request(method, path, json=body)
        assert response.status_code == 403, (path, response.text)
        assert "may not" in response.json()["error"]
    assert engineer.post("/api/users", json={"name": "x", "password": PASSWORD, "role": "admin"}).status_code == 403
    assert operator.get("/api/state").status_code == 200


def test_malformed_or_oversized_requests_get_4xx_and_change_nothing(cell, users):
    engineer = users["engineer"]
    tables = ("programs", "program_versions", "waypoints", "audit", "users")
    before = {table: cell.rows(table) for table in tables}
    headers = {"Content-Type": "application/json"}
    cases = [
        (b'{"name": "p", "steps": [', 400, "not valid JSON"),
        (b"[1, 2]", 400, "JSON object"),
        (b'{"name": "p", "steps": [], "extra": 1}', 400, "unknown field"),
        (b'{"name": "p"}', 400, "missing field"),
        (b'{"name": "p", "steps": [{"type": "fly"}]}', 400, "type must be one of"),
        (b'{"name": "p", "steps": [{"type": "wait", "seconds": NaN}]}', 400, "not a number JSON allows"),
        (b'{"name": "p", "steps": [{"type": "wait", "seconds": -1}]}', 400, "seconds"),
        (b'{"name": "' + b"x" * 100_000 + b'", "steps": []}', 413, "over its limit"),
    ]
    for body, status, message in cases:
        response = engineer.post("/api/programs", content=body, headers=headers)
        assert response.status_code == status and message in response.json()["error"], (body[:60], response.text)
    for path, body in (("/api/jog", {"mode": "joint", "axis": 99, "direction": 1, "step": 1}),
                       ("/api/jog", {"mode": "joint", "axis": 0, "direction": 1, "step": 3}),
                       ("/api/speed", {"percent": 0}), ("/api/reset", {"confirm": "yes"}),
                       ("/api/waypoints", {"name": "bad name!"}), ("/api/programs/import", {"format": "x"})):
        response = engineer.post(path, json=body)
        assert 400 <= response.status_code < 500 and response.json()["error"], (path, response.text)
    assert engineer.post("/api/programs/import", content=b"x" * 300_000, headers=headers).status_code == 413
    for frame in ("world", None, 1):
        jog = engineer.post("/api/jog", json={"mode": "cartesian", "axis": "x", "direction": 1, "step": 1,
                                              "frame": frame})
        assert jog.status_code == 400 and "frame must be 'base' or 'tool'" in jog.json()["error"], jog.text
    assert {table: cell.rows(table) for table in tables} == before


def test_a_tool_frame_step_moves_the_tool_along_its_own_x(ready, users):
    cell, engineer, frame = ready, users["engineer"], Planner(SafetyConfig()).frame
    start = cell.arm()
    before, rotation = frame.pose(start)
    jog = {"mode": "cartesian", "axis": "x", "direction": 1, "step": 5, "frame": "tool"}
    assert engineer.post("/api/jog", json=jog).status_code == 200
    cell.joint_states.wait_for(lambda m: np.abs(np.array(m.position[:7]) - start).max() > 1e-3, timeout=5,
                               what="the tool-frame step", after=time.monotonic() - 1)
    time.sleep(0.5)
    cell.joint_states.wait_for(lambda m: max(map(abs, m.velocity)) < AT_REST, after=time.monotonic(),
                               what="the arm at rest")
    moved = frame.pose(cell.arm())[0] - before
    assert 0.003 < np.linalg.norm(moved) < 0.007, moved
    assert moved @ rotation[:, 0] / np.linalg.norm(moved) > np.cos(np.radians(10)), (moved, rotation[:, 0])


def test_jog_moves_a_joint_and_stops_when_the_heartbeats_stop(ready, users):
    cell, engineer = ready, users["engineer"]
    start = cell.arm()
    response = engineer.post("/api/jog", json={"mode": "joint", "axis": 5, "direction": 1, "step": 1})
    assert response.status_code == 200, response.text
    cell.joint_states.wait_for(lambda m: abs(m.position[5] - start[5] - np.radians(1)) < 2e-3, timeout=5,
                               what="joint 6 one degree further")
    assert engineer.get("/api/state").json()["safety"]["manual_mode"] is True

    cookie = "; ".join(f"{k}={v}" for k, v in engineer.cookies.items())
    with connect(cell.base.replace("http", "ws") + "/ws",
                 additional_headers={"Origin": cell.base, "Cookie": cookie}) as page:
        assert json.loads(page.recv(timeout=5))["type"] == "state"
        before = cell.arm()
        page.send(json.dumps({"type": "jog", "mode": "joint", "axis": 0, "direction": -1}))
        held = time.monotonic()
        while time.monotonic() - held < 1.0:
            page.send(json.dumps({"type": "heartbeat"}))
            last_heartbeat = time.monotonic()
            time.sleep(0.07)
        quiet = time.monotonic()  # the page goes quiet but stays connected
        moved = before[0] - cell.arm()[0]
        assert moved > 0.2, f"joint 1 moved {moved:.3f} rad in 1 s of held jog"
        time.sleep(1.0)
        commands = [t for t, m in cell.commands.since(held) if len(m.points) > 1]  # moving windows (a hold is 1 point)
        assert commands and commands[-1] - last_heartbeat <= HEARTBEAT_TIMEOUT + PERIOD + 0.05, \
            f"the pendant streamed motion {commands[-1] - last_heartbeat:.3f} s after the last heartbeat"
        stopped = [(t, m.position[0]) for t, m in cell.joint_states.since(quiet)]
        final = stopped[-1][1]
        still = next(t for t, position in stopped if abs(position - final) < 1e-3)
        assert still - last_heartbeat <= HEARTBEAT_TIMEOUT + PERIOD + 0.25, \
            f"joint 1 came to rest {still - last_heartbeat:.3f} s after the last heartbeat"
        assert not any(m["type"] == "error" for m in drain(page))
        page.send(json.dumps({"type": "jog", "mode": "cartesian", "axis": "x", "direction": 1, "frame": "world"}))
        refusal = wait_until(lambda: next((m for m in drain(page) if m["type"] != "state"), None), 5, "the refusal")
        assert refusal["type"] == "error" and refusal["status"] == 400 and "frame" in refusal["error"], refusal

        page.send(json.dumps({"type": "jog", "mode": "cartesian", "axis": "z", "direction": 1}))
        for _ in range(5):
            page.send(json.dumps({"type": "heartbeat"}))
            time.sleep(0.07)
    closed = time.monotonic()  # the connection closed mid-jog: the arm stops
    time.sleep(0.6)
    assert not [t for t, m in cell.commands.since(closed + 0.15) if len(m.points) > 1]


def drain(page) -> list[dict]:
    """The text messages waiting on the websocket."""
    messages = []
    while True:
        try:
            message = page.recv(timeout=0.01)
        except TimeoutError:
            return messages
        if isinstance(message, str):
            messages.append(json.loads(message))


def teach(cell: Cell, engineer: httpx.Client, name: str, jog: dict) -> dict:
    start = cell.arm()
    assert engineer.post("/api/jog", json=jog).status_code == 200
    settled = time.monotonic()
    cell.joint_states.wait_for(lambda m: np.abs(np.array(m.position[:7]) - start).max() > 0.005, timeout=5,
                               what="the jog", after=settled - 1)
    time.sleep(0.5)
    cell.joint_states.wait_for(lambda m: max(map(abs, m.velocity)) < AT_REST, after=time.monotonic(),
                               what="the arm at rest")
    response = engineer.post("/api/waypoints", json={"name": name, "replace": True})
    assert response.status_code == 201, response.text
    return response.json()


def test_teach_two_waypoints_and_run_a_program(ready, users):
    cell, engineer, operator = ready, users["engineer"], users["operator"]
    a = teach(cell, engineer, "a", {"mode": "joint", "axis": 0, "direction": 1, "step": 10})
    b = teach(cell, engineer, "b", {"mode": "cartesian", "axis": "x", "direction": 1, "step": 10})
    assert len(a["tool_pose"]) == 7 and abs(b["tool_pose"][0] - a["tool_pose"][0] - 0.01) < 0.003
    steps = [{"type": "move", "waypoint": "a", "mode": "joint", "speed": 0.5}, {"type": "gripper", "command": "close"},
             {"type": "wait", "seconds": 0.3}, {"type": "move", "waypoint": "b", "mode": "linear", "speed": 0.3},
             {"type": "gripper", "command": "open"}]
    saved = engineer.post("/api/programs", json={"name": "pick", "steps": steps, "base_version": 0})
    assert saved.status_code == 201 and saved.json()["current_version"] == 1
    assert operator.post("/api/programs/pick/run", json={}).status_code == 403  # not approved yet
    assert engineer.post("/api/programs/pick/approve", json={"version": 1}).status_code == 200
    started = operator.post("/api/programs/pick/run", json={})
    assert started.status_code == 202, started.text
    again = engineer.post("/api/programs/pick/run", json={})
    assert again.status_code == 409 and "running" in again.json()["error"]
    jog = engineer.post("/api/jog", json={"mode": "joint", "axis": 0, "direction": 1, "step": 1})
    assert jog.status_code == 409
    done = wait_program(operator, ("finished", "failed", "halted", "stopped"))
    assert done["state"] == "finished", done
    assert np.abs(cell.arm() - np.array(list(b["joints"].values()))).max() < 0.02
    gripper = [m.position[7] for _, m in cell.joint_states.since(time.monotonic() - 10)]
    assert min(gripper) < 0.01 and gripper[-1] > 0.035  # closed, then open again
    actions = [e["action"] for e in engineer.get("/api/audit?limit=20").json()["entries"]]
    assert "program_run" in actions and "program_stopped" in actions
    exported = engineer.get("/api/programs/pick/export")
    assert exported.status_code == 200 and json.loads(exported.text)["waypoints"]["b"]["joints"] == b["joints"]


def test_estop_mid_run_halts_the_program_and_the_arm(ready, users):
    cell, engineer, operator = ready, users["engineer"], users["operator"]
    far = dict(zip(LOW, cell.arm() + [0.6, 0, 0, 0, 0, 0, 0]))
    assert engineer.post("/api/waypoints", json={"name": "far", "joints": far, "replace": True}).status_code == 201
    steps = [{"type": "move", "waypoint": "far", "mode": "joint", "speed": 0.05}, {"type": "wait", "seconds": 5}]
    assert engineer.post("/api/programs", json={"name": "slow", "steps": steps}).status_code == 201
    assert engineer.post("/api/programs/slow/run", json={}).status_code == 202
    cell.joint_states.wait_for(lambda m: max(map(abs, m.velocity)) > 0.02, timeout=5, what="the arm moving",
                               after=time.monotonic())
    stopped = operator.post("/api/estop", json={})
    assert stopped.status_code == 200 and "e-stop" in stopped.json()["message"]
    pressed = time.monotonic()
    run = wait_program(operator, ("halted",), timeout=5)
    assert "e-stop" in run["reason"]
    assert operator.get("/api/state").json()["safety"]["state"] == "estopped"
    cell.joint_states.wait_for(lambda m: max(map(abs, m.velocity)) < AT_REST, after=pressed, timeout=2,
                               what="the arm stopped")
    time.sleep(0.5)
    assert not cell.commands.since(pressed + 0.2)  # nothing streamed after the e-stop
    jog = engineer.post("/api/jog", json={"mode": "joint", "axis": 0, "direction": 1, "step": 1})
    assert jog.status_code == 409 and "estopped" in jog.json()["error"]
    assert operator.post("/api/reset", json={"confirm": True}).status_code == 403
    assert engineer.post("/api/reset", json={}).status_code == 400
    assert engineer.post("/api/reset", json={"confirm": True}).status_code == 200
    assert wait_until(lambda: cell.state.latest().data.startswith("idle"), 5, "the supervisor idle")
    actions = [e["action"] for e in engineer.get("/api/audit?limit=10").json()["entries"]]
    assert "estop" in actions and "reset" in actions


def dive(joints: dict[str, float]) -> dict:
    """A program document that moves to one waypoint, 'low', with ``joints``."""
    return {"format": "robostral-program/1", "name": "dive",
            "steps": [{"type": "move", "waypoint": "low", "mode": "joint", "speed": 0.5}],
            "waypoints": {"low": {"joints": joints}}}


def store_unchecked(cell: Cell, document: dict) -> None:
    """Save ``document`` as version 1 of a new program straight into the database, as a pendant that did not
    check imports could have (approving it now is what must be refused)."""
    conn = sqlite3.connect(cell.db, timeout=10)
    try:
        with conn:
            user = conn.execute("SELECT id FROM users WHERE name = 'eve'").fetchone()[0]
            program = conn.execute("INSERT INTO programs (name, current_version) VALUES (?, 1)",
                                   (document["name"],)).lastrowid
            conn.execute("INSERT INTO program_versions (program_id, version, document, created_by, created_at) "
                         "VALUES (?, 1, ?, ?, ?)", (program, json.dumps(document), user, time.time()))
    finally:
        conn.close()


def test_a_waypoint_outside_the_limits_is_refused_when_taught_imported_or_approved(ready, users):
    cell, engineer = ready, users["engineer"]
    refused = engineer.post("/api/waypoints", json={"name": "low", "joints": LOW})
    assert refused.status_code == 422
    assert "outside the workspace box" in refused.json()["error"] and "tool point" in refused.json()["error"]
    before = cell.tables()
    for joints, reason in ((LOW, "outside the workspace box"), ({**HOME, "panda_joint1": 100.0}, "100 is outside"),
                           ({**HOME, "elbow": 0.0}, "unknown elbow")):
        imported = engineer.post("/api/programs/import", json=dive(joints))
        assert imported.status_code == 422 and reason in imported.json()["error"], imported.text
        taught = engineer.post("/api/waypoints", json={"name": "low", "joints": joints})
        assert taught.status_code == 422 and reason in taught.json()["error"], taught.text
    assert cell.tables() == before  # nothing stored, not even an audit row
    store_unchecked(cell, dive(LOW))
    before = cell.tables()
    approved = engineer.post("/api/programs/dive/approve", json={"version": 1})
    assert approved.status_code == 422 and "outside the workspace box" in approved.json()["error"], approved.text
    assert cell.tables() == before
    before = time.monotonic()
    run = engineer.post("/api/programs/dive/run", json={})
    assert run.status_code == 422
    assert "step 1: move to 'low' refused by the safety checks" in run.json()["error"]
    assert "outside the workspace box" in run.json()["error"]
    assert engineer.get("/api/run").json()["state"] not in ("running", "paused")
    time.sleep(0.3)
    assert not cell.commands.since(before)


def test_step_pause_resume_and_stop(ready, users):
    engineer = users["engineer"]
    steps = [{"type": "wait", "seconds": 0.2}, {"type": "gripper", "command": "close"},
             {"type": "wait", "seconds": 0.2}, {"type": "gripper", "command": "open"}, {"type": "wait", "seconds": 3}]
    assert engineer.post("/api/programs", json={"name": "steps", "steps": steps}).status_code == 201
    assert engineer.post("/api/programs/steps/run", json={"mode": "step"}).status_code == 202
    assert wait_program(engineer, ("paused",))["step"] == 1
    assert engineer.post("/api/run/pause", json={}).status_code == 409  # paused already
    assert engineer.post("/api/run/step", json={}).status_code == 200
    assert wait_until(lambda: (s := engineer.get("/api/run").json())["state"] == "paused" and s["step"] == 2, 10,
                      "paused after step 2")
    assert engineer.post("/api/run/resume", json={}).status_code == 200
    wait_until(lambda: engineer.get("/api/run").json()["step"] == 4, 10, "at the last step")
    paused = engineer.post("/api/run/pause", json={}).json()
    assert paused["state"] == "paused" and paused["step"] == 4
    stopped = engineer.post("/api/run/stop", json={}).json()
    assert stopped["state"] == "stopped" and "eve" in stopped["reason"]
    assert engineer.post("/api/run/stop", json={}).status_code == 409


def test_a_skill_publishes_its_instruction_until_confirmed_then_clears_it(ready, users):
    cell, engineer, operator = ready, users["engineer"], users["operator"]
    instructions = cell.probe.record(contract.INSTRUCTION, String, contract.LATCHED_QOS)
    skill = {"type": "skill", "instruction": "reach the green target", "timeout": 30}
    assert engineer.post("/api/programs", json={"name": "skill", "steps": [skill]}).status_code == 201
    assert engineer.post("/api/run/confirm", json={}).status_code == 409  # no skill waits
    assert engineer.post("/api/programs/skill/run", json={}).status_code == 202
    instructions.wait_for(lambda m: m.data == "reach the green target", what="the skill's instruction")
    assert wait_until(lambda: engineer.get("/api/run").json()["skill_waiting"], 10, "the skill waiting")
    assert operator.post("/api/run/confirm", json={}).status_code == 200
    assert wait_program(engineer, ("finished", "failed"))["state"] == "finished"
    instructions.wait_for(lambda m: m.data == "", what="the instruction cleared")
    assert engineer.get("/api/state").json()["instruction"] == ""
    assert operator.post("/api/instruction", json={"text": "reach the green target"}).status_code == 200
    refused = engineer.post("/api/jog", json={"mode": "joint", "axis": 0, "direction": 1, "step": 1})
    assert refused.status_code == 409 and "clear it first" in refused.json()["error"]
    assert operator.post("/api/instruction", json={"text": "reach the ~ target"}).status_code == 400
    assert operator.delete("/api/instruction").status_code == 200


def test_policies_list_and_a_bundle_that_does_not_verify_is_refused(ready, users):
    engineer = users["engineer"]
    bundles = engineer.get("/api/policies").json()["bundles"]
    assert [b["name"] for b in bundles] == ["broken"] and not bundles[0]["verifies"] and not bundles[0]["deployable"]
    refused = engineer.post("/api/policies/choose", json={"name": "broken"})
    assert refused.status_code == 409 and "does not verify" in refused.json()["error"]
    assert engineer.post("/api/policies/choose", json={"name": "../etc"}).status_code == 404


def test_audit_log_view_and_csv(ready, users):
    engineer = users["engineer"]
    entries = engineer.get("/api/audit?action=jog").json()["entries"]
    assert entries and all(e["action"] == "jog" for e in entries)
    assert any(e["detail"].get("frame") == "tool" for e in entries)  # the tool-frame step
    csv = engineer.get("/api/audit.csv")
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert csv.text.splitlines()[0] == "id,time,user,action,detail"
    assert engineer.get("/api/audit?limit=0").status_code == 400


def strict_json(text: str) -> dict:
    """``text`` parsed as JSON proper: NaN and Infinity (which Python's json takes) are refused."""
    def refuse(constant: str):
        raise AssertionError(f"{constant} in {text[:200]}")

    return json.loads(text, parse_constant=refuse)


def test_a_nan_joint_state_shows_as_unusable_and_the_state_stays_json(ready, users):
    cell, operator = ready, users["operator"]
    names = list(cell.joint_states.latest().name)
    nan = JointState(name=names, position=[float("nan")] * len(names), velocity=[0.0] * len(names))
    publisher = cell.probe.publisher(contract.JOINT_STATES, JointState, contract.JOINT_STATES_QOS)
    cookie = "; ".join(f"{k}={v}" for k, v in operator.cookies.items())
    with cell.probe.every(0.005, lambda: publisher.publish(nan)):  # 10 times the driver's rate: mostly the latest
        def unusable() -> dict | None:
            response = operator.get("/api/state")
            assert response.status_code == 200, response.text
            state = strict_json(response.text)
            return state if not state["joints"]["valid"] else None

        state = wait_until(unusable, 10, "the joints shown as unusable on /api/state")
        with connect(cell.base.replace("http", "ws") + "/ws",
                     additional_headers={"Origin": cell.base, "Cookie": cookie}) as page:
            messages = [page.recv(timeout=5) for _ in range(20)]
    assert "NaN" in state["joints"]["reason"] and state["joints"]["age"] >= 0 and "positions" not in state["joints"]
    states = [strict_json(m) for m in messages if isinstance(m, str)]
    assert states and all(m["type"] == "state" for m in states)
    assert any(not m["joints"]["valid"] and "NaN" in m["joints"]["reason"] for m in states)
    time.sleep(0.3)  # the driver's joint states again
    assert strict_json(operator.get("/api/state").text)["joints"]["valid"] is True


def test_anyone_may_press_the_estop_and_a_flood_of_presses_is_one_audit_row(ready, users):
    cell, engineer, operator = ready, users["engineer"], users["operator"]
    with cell.client() as anonymous:  # the login screen: no session, no CSRF token
        assert anonymous.post("/api/reset", json={"confirm": True}).status_code == 401
        pressed = anonymous.post("/api/estop")
        assert pressed.status_code == 200 and "e-stop" in pressed.json()["message"], pressed.text
        wait_until(lambda: cell.state.latest().data.startswith("estopped"), 5, "the supervisor e-stopped",
                   lambda: cell.state.latest())
        rows = cell.rows("audit")
        for _ in range(50):  # never rate limited
            assert anonymous.post("/api/estop", json={}).status_code == 200
        assert cell.rows("audit") - rows <= 1  # counted in the first press's row (one more at an hour's turn)
    with cell.client(Origin="http://evil.example") as foreign:
        assert foreign.post("/api/estop").status_code == 403  # another site's page may not
    anonymous_rows = [e for e in engineer.get("/api/audit?action=estop").json()["entries"] if e["user"] is None]
    assert sum(e["detail"]["count"] for e in anonymous_rows) == 51
    assert anonymous_rows[-1]["detail"]["client"] == "127.0.0.1"
    assert operator.post("/api/estop", json={}).status_code == 200  # logged in: audited under its user
    assert engineer.get("/api/audit?action=estop").json()["entries"][-1]["user"] == "otto"
    assert operator.post("/api/reset", json={"confirm": True}).status_code == 403
    assert engineer.post("/api/reset", json={"confirm": True}).status_code == 200


@pytest.mark.parametrize("kind", ["commands", "joint states"])
def test_the_pages_estop_answers_under_a_flood_of_maximal_messages(ready, users, tmp_path, kind):
    """Issue 18 item 3: under a flood of 10,000-point trajectories the page's E-STOP answered 503 in 4 of 5 presses
    (the supervisor was busy for seconds). The flood now costs the supervisor and the pendant nothing but a size
    check, and every press stops the arm."""
    cell, engineer = ready, users["engineer"]
    with hostile(kind, cell.graph.domain, tmp_path / "flood.log"), cell.client() as anonymous:
        time.sleep(1.0)
        for _ in range(5):
            pressed = time.monotonic()
            response = anonymous.post("/api/estop")
            assert response.status_code == 200, response.text
            cell.state.wait_for(lambda m: m.data.startswith("estopped"), timeout=3, after=pressed, what="estopped")
            assert engineer.post("/api/reset", json={"confirm": True}).status_code == 200
    assert "exited with status" not in cell.graph.output()


def test_a_server_restart_keeps_programs_and_leaves_the_arm_holding(ready, users):
    cell = ready
    programs = users["engineer"].get("/api/programs").json()["programs"]
    log_at = len(cell.graph.output())
    os.kill(cell.graph.pid_of("pendant"), signal.SIGKILL)
    killed = time.monotonic()
    cell.graph.wait_for_output("started pendant", timeout=15, after=log_at)
    wait_until(lambda: answers(cell.base), 60, "the restarted pendant")
    engineer = login(cell, "eve")
    assert engineer.get("/api/programs").json()["programs"] == programs
    assert engineer.get("/api/programs/pick").json()["approved"] is True
    time.sleep(1.0)
    assert not cell.commands.since(killed)  # the new server commands nothing
    cell.joint_states.wait_for(lambda m: max(map(abs, m.velocity)) < AT_REST, after=time.monotonic(),
                               what="the arm holding")
    assert engineer.get("/api/run").json()["state"] == "idle"


def test_too_many_failed_logins_get_429_at_that_address_only(cell, users):
    attacker = httpx.Client(base_url=cell.base, headers={"Origin": cell.base}, timeout=30.0,
                            transport=httpx.HTTPTransport(local_address="127.0.0.2"))  # loopback, another address
    with attacker:
        for _ in range(6):
            response = attacker.post("/api/login", json={"name": "eve", "password": "not the password"})
            if response.status_code == 429:
                break
            assert response.status_code == 401
        assert response.status_code == 429 and int(response.headers["retry-after"]) > 0
        assert "too many failed logins" in response.json()["error"]
    login(cell, "eve").close()  # from 127.0.0.1: the operator is not locked out
    failed = users["engineer"].get("/api/audit?action=login_failed").json()["entries"]
    assert sum(e["detail"]["count"] for e in failed if e["detail"]["client"] == "127.0.0.2") >= 6
