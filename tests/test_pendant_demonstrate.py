"""The Demonstrate screen: a teleoperated demonstration recorded, kept as an episode of a dataset, discarded,
reviewed and deleted; engineers only, every action audited; a killed pendant loses only the take it was recording.

`robostral up --sim` runs the simulated cell with the pendant in it (its demonstrations in a folder of the test's);
the tests teleoperate as the page does (held jogs over the websocket with their heartbeats, step jogs, the
gripper) and read the dataset on disk with `load_dataset`. The last test does it in headless Chromium. Tests run
in file order on one cell and one dataset.
"""

from __future__ import annotations

import io
import json
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pendant_browser
import pytest
from PIL import Image as PilImage
from ros_helpers import ROOT, Probe, RosProcess, Topic, free_port, robostral_up, wait_until
from sensor_msgs.msg import JointState
from std_msgs.msg import String
from trajectory_msgs.msg import JointTrajectory
from websockets.sync.client import connect

from robostral.data import load_dataset
from robostral.data.layout import ACTION, IMAGE_KEYS, STATE
from robostral.pendant.demonstrations import DEMONSTRATION_TASK
from robostral.ros import contract
from robots import load_robot

PASSWORD = "correct horse battery"
AT_REST = 0.01  # rad/s
PANDA = load_robot("panda")
FIRST, SECOND = "reach the green target", "push the blue cube to the left"
# The shipped policy's card (the cell's policy node deploys it): 20 Hz, 96 px, a wrist camera. The sim renders
# 32 px frames; what the policy sees of them, and so the dataset, is 96 px.
FPS, SIZE = 20, 96
SHOTS = ROOT / "runs" / "pendant-screenshots"


@dataclass
class Cell:
    graph: RosProcess
    probe: Probe
    base: str
    folder: Path  # the demonstrations' dataset
    joint_states: Topic
    state: Topic  # the supervisor's latched state

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base, headers={"Origin": self.base}, timeout=60.0)

    def arm(self) -> np.ndarray:
        return np.array(self.joint_states.latest().position[:7])

    def wait_at_rest(self) -> None:
        time.sleep(0.3)
        self.joint_states.wait_for(lambda m: max(map(abs, m.velocity)) < AT_REST, after=time.monotonic(),
                                   what="the arm at rest")


def answers(base: str) -> bool:
    try:
        return httpx.get(f"{base}/api/setup", timeout=1.0).status_code == 200
    except httpx.TransportError:
        return False


@pytest.fixture(scope="module")
def cell(tmp_path_factory):
    root = tmp_path_factory.mktemp("demonstrate")
    (root / "policies").mkdir()
    port = free_port()
    arguments = ["--sim", "--task", "reach", "--param", "sim_driver.image_size=32",
                 "--param", "sim_driver.randomization_level=0.0", "--param", f"pendant.db={root / 'pendant.db'}",
                 "--param", f"pendant.port={port}", "--param", f"pendant.policies_dir={root / 'policies'}",
                 "--param", f"pendant.demonstrations={root / 'demonstrations'}"]
    with robostral_up(arguments, root / "up.log") as (graph, probe):
        base = f"http://127.0.0.1:{port}"
        wait_until(lambda: answers(base), 60, f"the pendant at {base}")
        yield Cell(graph, probe, base, root / "demonstrations",
                   probe.record(contract.JOINT_STATES, JointState, contract.JOINT_STATES_QOS),
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
    """The arm at rest, the gripper open, the supervisor not latched, no take."""
    engineer = users["engineer"]
    state = wait_until(cell.state.latest, 15, "the supervisor's latched state")
    if state.data.startswith(("estopped", "fault")):
        assert engineer.post("/api/reset", json={"confirm": True}).status_code == 200
    assert engineer.post("/api/speed", json={"percent": 100}).status_code == 200
    if engineer.get("/api/demonstrations/status").json()["state"] != "idle":
        assert engineer.post("/api/demonstrations/discard", json={}).status_code == 200
    if cell.joint_states.latest().position[7] < 0.035:
        assert engineer.post("/api/gripper", json={"command": "open"}).status_code == 200
        cell.joint_states.wait_for(lambda m: m.position[7] > 0.035, timeout=10, after=time.monotonic(),
                                   what="the gripper open")
    cell.wait_at_rest()
    return cell


def held_jog(cell: Cell, client: httpx.Client, jog: dict, moved: float, timeout: float = 10.0) -> None:
    """Hold a joint jog as the page does (the jog message, heartbeats every 70 ms, then stop) until the joint has
    moved by ``moved`` rad. Where the motion stopped early (a busy machine stalled the heartbeats past their
    timeout: the deadman), press again, as an operator would."""
    cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
    joint, start = jog["axis"], cell.arm()[jog["axis"]]
    with connect(cell.base.replace("http", "ws") + "/ws",
                 additional_headers={"Origin": cell.base, "Cookie": cookie}) as page:
        deadline, pressed, progress = time.monotonic() + timeout, 0.0, (0.0, 0.0)
        while abs(cell.arm()[joint] - start) < moved:
            now = time.monotonic()
            assert now < deadline, f"joint {joint + 1} moved {cell.arm()[joint] - start:.3f} rad in {timeout:g} s"
            distance = abs(cell.arm()[joint] - start)
            if distance > progress[0] + 1e-3:
                progress = (distance, now)
            if now - max(pressed, progress[1]) > 0.6:  # not moving: (press) again
                page.send(json.dumps({"type": "jog", **jog}))
                pressed = now
            page.send(json.dumps({"type": "heartbeat"}))
            time.sleep(0.07)
        page.send(json.dumps({"type": "stop"}))
        while True:  # no refusal came back
            try:
                message = page.recv(timeout=0.05)
            except TimeoutError:
                break
            if isinstance(message, str):
                assert json.loads(message)["type"] != "error", message


def record(client: httpx.Client, instruction: str) -> dict:
    response = client.post("/api/demonstrations/record", json={"instruction": instruction})
    assert response.status_code == 201, response.text
    assert response.json()["state"] == "recording" and response.json()["instruction"] == instruction
    return response.json()


def step(cell: Cell, client: httpx.Client, jog: dict) -> None:
    start = cell.arm()
    response = client.post("/api/jog", json=jog)
    assert response.status_code == 200, response.text
    cell.joint_states.wait_for(lambda m: np.abs(np.array(m.position[:7]) - start).max() > 0.003, timeout=5,
                               after=time.monotonic() - 1, what="the step jog")
    cell.wait_at_rest()


def stop(client: httpx.Client) -> dict:
    response = client.post("/api/demonstrations/stop", json={})
    assert response.status_code == 200, response.text
    assert response.json()["state"] == "stopped" and response.json()["frames"] > 0, response.json()
    return response.json()


def actions(client: httpx.Client, kind: str) -> list[dict]:
    return client.get(f"/api/audit?action={kind}").json()["entries"]


def test_operators_get_403_and_anonymous_requests_401(cell, users):
    operator, engineer = users["operator"], users["engineer"]
    requests = [("GET", "/api/demonstrations", None), ("GET", "/api/demonstrations/status", None),
                ("POST", "/api/demonstrations/record", {"instruction": FIRST}),
                ("POST", "/api/demonstrations/stop", {}), ("POST", "/api/demonstrations/keep", {}),
                ("POST", "/api/demonstrations/discard", {}), ("DELETE", "/api/demonstrations/0?seed=0", None),
                ("GET", "/api/demonstrations/0/frames/0", None), ("POST", "/api/gripper", {"command": "close"})]
    for method, path, body in requests:
        response = operator.request(method, path, json=body)
        assert response.status_code == 403 and "may not" in response.json()["error"], (path, response.text)
        with cell.client() as anonymous:
            assert anonymous.request(method, path, json=body).status_code == 401, path
    assert "demonstrate" not in operator.get("/api/session").json()["permissions"]  # the page hides the tab
    assert "demonstrate" in engineer.get("/api/session").json()["permissions"]
    assert engineer.get("/api/demonstrations/status").json() == {"state": "idle", "folder": str(cell.folder)}
    assert not actions(engineer, "demonstration_started") and not actions(engineer, "gripper")


def test_an_invalid_instruction_is_refused_with_400_and_records_nothing(cell, users):
    engineer = users["engineer"]
    for body in ({"instruction": "reach the ~ target"}, {"instruction": ""}, {"instruction": "   "},
                 {"instruction": 5}, {"instruction": "x" * 500}, {}, {"instruction": FIRST, "extra": 1}):
        response = engineer.post("/api/demonstrations/record", json=body)
        assert response.status_code == 400 and response.json()["error"], (body, response.text)
    assert "may use only letters" in engineer.post("/api/demonstrations/record",
                                                   json={"instruction": "reach the ~ target"}).json()["error"]
    assert engineer.get("/api/demonstrations/status").json()["state"] == "idle"
    assert not actions(engineer, "demonstration_started") and not cell.folder.exists()


def test_a_teleoperated_demonstration_is_kept_as_an_episode_of_the_dataset(ready, users):
    cell, engineer = ready, users["engineer"]
    begin = cell.arm()
    record(engineer, FIRST)
    assert engineer.post("/api/demonstrations/record", json={"instruction": SECOND}).status_code == 409
    assert engineer.post("/api/demonstrations/keep", json={}).status_code == 409  # not stopped yet
    held_jog(cell, engineer, {"mode": "joint", "axis": 0, "direction": 1}, 0.3)
    cell.wait_at_rest()
    step(cell, engineer, {"mode": "cartesian", "axis": "z", "direction": 1, "step": 10, "frame": "tool"})
    assert engineer.post("/api/gripper", json={"command": "close"}).status_code == 200
    cell.joint_states.wait_for(lambda m: m.position[7] < 0.005, timeout=10, after=time.monotonic() - 1,
                               what="the gripper closed")
    cell.wait_at_rest()
    end = cell.arm()
    stopped = stop(engineer)
    assert stopped["user"] == "eve" and stopped["ended"] == "stopped by eve" and not stopped["problem"]
    assert (stopped["fps"], stopped["image_size"], stopped["wrist"]) == (FPS, SIZE, True)
    kept = engineer.post("/api/demonstrations/keep", json={})
    assert kept.status_code == 201, kept.text
    entry = kept.json()
    assert entry["index"] == 0 and entry["instruction"] == FIRST and entry["recorded_by"] == "eve"
    assert entry["source"] == DEMONSTRATION_TASK and entry["cameras"] == ["front", "wrist"]

    data = load_dataset(cell.folder)  # on disk, complete, before Keep answered
    assert (data.robot, data.fps, list(data.joint_names)) == ("panda", FPS, list(PANDA.joint_names))
    assert data.tasks == [FIRST] and len(data.episodes) == 1 and data.episodes[0]["sim_task"] == DEMONSTRATION_TASK
    frames = data.episodes[0]["length"]
    assert abs(frames - (stopped["seconds"] * FPS + 1)) <= 1 and frames >= 1.5 * FPS, (frames, stopped)
    assert entry["frames"] == frames and entry["seconds"] == frames / FPS
    arrays = data.load_arrays()
    for camera in IMAGE_KEYS.values():
        assert arrays[camera].shape == (frames, SIZE, SIZE, 3) and arrays[camera].dtype == np.uint8
        assert arrays[camera].std() > 5  # pictures of the scene, not blank frames
    state, action = arrays[STATE], arrays[ACTION]
    assert state.shape == (frames, 15) and action.shape == (frames, 8)
    # the arm held where it was, then joint 1 jogged up (the action ahead of the state), the tool raised, the
    # gripper closed: the commands of the teleoperation, and the joint states that followed them
    np.testing.assert_allclose(action[0, 1:7], begin[1:], atol=0.01)  # joint 1 may have begun its jog already
    assert -0.01 < action[0, 0] - begin[0] < 0.05
    np.testing.assert_allclose(state[0, :7], begin, atol=0.01)
    assert action[:, 0].max() - begin[0] > 0.25
    np.testing.assert_allclose(state[-1, :7], end, atol=0.01)
    np.testing.assert_allclose(action[-1, :7], end, atol=0.02)
    assert action[0, 7] > 0.035 and action[-1, 7] < 0.005 and state[-1, 14] < 0.005
    assert np.abs(state[:, 7:14]).max() > 0.1  # velocities while jogging

    for frame in (0, -1, frames - 1):
        png = engineer.get(f"/api/demonstrations/0/frames/{frame}?camera=front")
        assert png.status_code == 200 and png.headers["content-type"] == "image/png"
        assert PilImage.open(io.BytesIO(png.content)).size == (SIZE, SIZE)
    assert engineer.get("/api/demonstrations/0/frames/0?camera=wrist").status_code == 200
    assert engineer.get(f"/api/demonstrations/0/frames/{frames}").status_code == 404
    assert engineer.get("/api/demonstrations/0/frames/0?camera=side").status_code == 404
    assert engineer.get("/api/demonstrations/1/frames/0").status_code == 404
    listing = engineer.get("/api/demonstrations").json()
    assert listing["status"]["state"] == "idle" and listing["tasks"] == [FIRST]
    assert listing["episodes"] == [entry] and entry["started_at"] < entry["ended_at"]
    for kind in ("demonstration_started", "demonstration_stopped", "demonstration_kept", "gripper"):
        assert [e["user"] for e in actions(engineer, kind)] == ["eve"], kind
    assert actions(engineer, "demonstration_kept")[0]["detail"]["frames"] == frames


def test_discard_leaves_the_dataset_as_it_was(ready, users):
    cell, engineer = ready, users["engineer"]
    before = load_dataset(cell.folder).hash()
    record(engineer, SECOND)
    step(cell, engineer, {"mode": "joint", "axis": 0, "direction": -1, "step": 5})
    stop(engineer)
    assert engineer.post("/api/demonstrations/stop", json={}).status_code == 409
    discarded = engineer.post("/api/demonstrations/discard", json={})
    assert discarded.status_code == 200 and discarded.json()["state"] == "idle"
    record(engineer, SECOND)  # discarded while still recording
    assert engineer.post("/api/demonstrations/discard", json={}).json()["state"] == "idle"
    for action in ("stop", "keep", "discard"):
        assert engineer.post(f"/api/demonstrations/{action}", json={}).status_code == 409
    assert engineer.post("/api/demonstrations/rewind", json={}).status_code == 404
    assert load_dataset(cell.folder).hash() == before
    assert len(actions(engineer, "demonstration_discarded")) == 2


def test_a_second_demonstration_and_deleting_the_first(ready, users):
    cell, engineer = ready, users["engineer"]
    record(engineer, SECOND)
    step(cell, engineer, {"mode": "cartesian", "axis": "y", "direction": 1, "step": 10})
    stop(engineer)
    second = engineer.post("/api/demonstrations/keep", json={}).json()
    assert second["index"] == 1 and second["seed"] == 1 and second["instruction"] == SECOND
    assert [len(load_dataset(cell.folder).episodes), load_dataset(cell.folder).tasks] == [2, [FIRST, SECOND]]
    stale = engineer.delete("/api/demonstrations/0?seed=1")
    assert stale.status_code == 409 and "reload" in stale.json()["error"]
    assert engineer.delete("/api/demonstrations/2?seed=2").status_code == 404
    assert engineer.delete("/api/demonstrations/0?seed=x").status_code == 400
    assert engineer.delete("/api/demonstrations/0?seed=0").status_code == 204

    data = load_dataset(cell.folder)
    assert [(e["seed"], e["tasks"]) for e in data.episodes] == [(1, [SECOND])] and data.tasks == [SECOND]
    assert list(data.info["robostral"]["demonstrations"]["episodes"]) == ["1"]
    assert data.num_frames == second["frames"] and data.load_arrays([STATE])[STATE].shape == (second["frames"], 15)
    listing = engineer.get("/api/demonstrations").json()["episodes"]
    assert [(e["index"], e["seed"], e["instruction"]) for e in listing] == [(0, 1, SECOND)]
    first_frame = engineer.get("/api/demonstrations/0/frames/0").content  # the second's now
    assert first_frame == next(load_dataset(cell.folder).image_frames(IMAGE_KEYS["image"], 0))[0]
    deleted = actions(engineer, "demonstration_deleted")
    assert len(deleted) == 1 and deleted[0]["user"] == "eve"
    assert {k: deleted[0]["detail"][k] for k in ("episode", "seed", "instruction")} == \
        {"episode": 0, "seed": 0, "instruction": FIRST}


def test_a_pendant_killed_mid_recording_loses_that_take_only(ready, users):
    cell, engineer = ready, users["engineer"]
    before = load_dataset(cell.folder)
    record(engineer, FIRST)
    held_jog(cell, engineer, {"mode": "joint", "axis": 0, "direction": -1}, 0.1)
    log_at = len(cell.graph.output())
    os.kill(cell.graph.pid_of("pendant"), signal.SIGKILL)
    cell.graph.wait_for_output("started pendant", timeout=15, after=log_at)
    wait_until(lambda: answers(cell.base), 60, "the restarted pendant")
    after = load_dataset(cell.folder)
    assert after.hash() == before.hash() and after.episodes == before.episodes
    users["engineer"] = engineer = login(cell, "eve")
    assert engineer.get("/api/demonstrations/status").json()["state"] == "idle"
    wait_until(lambda: (engineer.get("/api/state").json()["joints"] or {}).get("valid"), 15,
               "the restarted pendant's joint state")
    # and the restarted pendant records on into the same dataset, the seeds never reused
    cell.wait_at_rest()
    record(engineer, FIRST)
    step(cell, engineer, {"mode": "joint", "axis": 0, "direction": 1, "step": 5})
    stop(engineer)
    kept = engineer.post("/api/demonstrations/keep", json={})
    assert kept.status_code == 201 and kept.json()["seed"] == 2, kept.text
    assert [e["seed"] for e in load_dataset(cell.folder).episodes] == [1, 2]


def test_robostral_train_trains_on_the_demonstrations(cell, tmp_path):
    from conftest import tiny_train_config

    from robostral.training.checkpoint import latest_checkpoint
    from robostral.training.trainer import train

    train(tiny_train_config(cell.folder, tmp_path / "run", steps=2, log_every=1, eval_every=2, checkpoint_every=2,
                            val_fraction=0.5))
    assert latest_checkpoint(tmp_path / "run").name == "step-0000002"


@pytest.fixture(scope="module")
def browser():
    playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is a dev dependency")
    if not Path(pendant_browser.CHROMIUM).exists():
        pytest.skip(f"no {pendant_browser.CHROMIUM}: `make setup` installs Debian's chromium")
    with playwright_api.sync_playwright() as playwright:
        chromium = pendant_browser.launch(playwright)
        yield chromium
        chromium.close()


def test_in_the_page_record_hold_to_jog_stop_keep_see_the_thumbnail_and_delete(ready, users, browser):
    from playwright.sync_api import expect

    cell = ready
    page = pendant_browser.open_page(browser, cell.base)
    page.set_default_timeout(15_000)
    try:
        pendant_browser.log_in(page, "eve", PASSWORD)
        expect(page.get_by_test_id("connection")).to_have_text("live")
        page.get_by_test_id("tab-demonstrate").click()
        expect(page.get_by_test_id("demo-count")).to_have_text("2")
        expect(page.get_by_test_id("demo-state")).to_have_text("idle")
        page.get_by_test_id("demo-instruction").fill(SECOND)
        page.get_by_test_id("demo-record").click()
        expect(page.get_by_test_id("demo-state")).to_have_text("recording")
        expect(page.get_by_test_id("demo-keep")).to_be_disabled()
        start = cell.arm()[0]
        page.get_by_test_id("demo-jog-joint-0-plus").hover()
        for attempt in range(3):  # a busy machine may stall the heartbeats past their timeout: press again
            page.mouse.down()
            try:
                cell.joint_states.wait_for(lambda m: m.position[0] - start > 0.05, timeout=3, after=time.monotonic(),
                                           what="joint 1 moving while the button is held")
                break
            except AssertionError:
                if attempt == 2:
                    raise
            finally:
                page.mouse.up()
        cell.wait_at_rest()
        expect(page.get_by_test_id("demo-progress")).to_contain_text("frames")
        page.get_by_test_id("demo-stop").click()
        expect(page.get_by_test_id("demo-state")).to_contain_text("stopped")
        page.get_by_test_id("demo-keep").click()
        expect(page.get_by_test_id("demo-count")).to_have_text("3")
        expect(page.get_by_test_id("demo-state")).to_have_text("idle")
        expect(page.get_by_test_id("demo-episode-2-instruction")).to_have_text(SECOND)
        for which in ("first", "last"):
            thumb = page.get_by_test_id(f"demo-thumb-2-{which}")
            wait_until(lambda thumb=thumb: thumb.evaluate("img => img.complete && img.naturalWidth") == SIZE, 10,
                       f"the {which} frame's thumbnail")
        page.get_by_test_id("demo-review-2").click()
        expect(page.get_by_test_id("demo-review-position")).to_contain_text("frame 1 of")
        page.get_by_test_id("demo-review-forward").click()
        expect(page.get_by_test_id("demo-review-position")).to_contain_text("frame 2 of")
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SHOTS / "demonstrate.png", full_page=True)
        kept = load_dataset(cell.folder)
        assert [e["tasks"] for e in kept.episodes] == [[SECOND], [FIRST], [SECOND]]
        assert kept.episodes[2]["length"] >= 5

        page.get_by_test_id("demo-delete-2").click()
        page.get_by_test_id("confirm-yes").click()
        expect(page.get_by_test_id("demo-count")).to_have_text("2")
        expect(page.get_by_test_id("demo-episode-2")).to_have_count(0)
        assert [e["seed"] for e in load_dataset(cell.folder).episodes] == [1, 2]
    finally:
        page.context.close()


# A gamepad the page's Gamepad API sees: window.__pad's axes and buttons, as the test sets them.
FAKE_GAMEPAD = """
window.__pad = {id: "Test pad (STANDARD GAMEPAD)", index: 0, connected: true, mapping: "standard", timestamp: 0,
  axes: [0, 0, 0, 0], buttons: Array.from({length: 17}, () => ({pressed: false, touched: false, value: 0}))};
Object.defineProperty(Navigator.prototype, "getGamepads", {configurable: true, value: () => [window.__pad]});
"""


def test_a_gamepad_jogs_while_deflected_and_its_buttons_work_the_gripper(ready, users, browser):
    from playwright.sync_api import expect

    cell = ready
    commands = cell.probe.record(contract.PENDANT_TRAJECTORY, JointTrajectory, contract.POLICY_TRAJECTORY_QOS)
    context = browser.new_context(base_url=cell.base, viewport=pendant_browser.VIEWPORT)
    context.add_init_script(FAKE_GAMEPAD)
    page = context.new_page()
    page.set_default_timeout(15_000)

    def stick(z: float) -> None:  # the right stick's vertical axis: up (negative) jogs +Z
        page.evaluate(f"() => {{ window.__pad.axes[3] = {-z}; }}")

    def moving(after: float) -> list[float]:
        return [t for t, m in commands.since(after) if len(m.points) > 1]  # a hold is one point

    def jog_up() -> None:
        for attempt in range(3):  # a busy machine may stall the heartbeats past their timeout: deflect again
            start = cell.arm()
            stick(0.9)
            try:
                cell.joint_states.wait_for(lambda m, start=start: np.abs(np.array(m.position[:7]) - start).max() > 0.01,
                                           timeout=3, after=time.monotonic(), what="the arm jogged by the stick")
                return
            except AssertionError:
                stick(0.0)
                time.sleep(0.3)
                if attempt == 2:
                    raise

    try:
        page.goto("/")
        pendant_browser.log_in(page, "eve", PASSWORD)
        expect(page.get_by_test_id("connection")).to_have_text("live")
        page.get_by_test_id("tab-demonstrate").click()
        expect(page.get_by_test_id("demo-gamepad")).to_have_text("Gamepad: Test pad (STANDARD GAMEPAD)")
        stick(0.1)  # inside the dead zone: nothing
        time.sleep(0.5)
        assert not moving(time.monotonic() - 0.4)
        jog_up()
        expect(page.get_by_test_id("demo-gamepad")).to_have_class("held")
        centred = time.monotonic()
        stick(0.0)
        cell.wait_at_rest()
        time.sleep(max(0.0, centred + 1.5 - time.monotonic()))
        assert not moving(centred + 0.8), "the arm was still streamed a motion after the stick came back"
        jog_up()
        page.evaluate("() => window.dispatchEvent(new Event('blur'))")  # the page loses the focus: it stops
        blurred = time.monotonic()
        time.sleep(1.0)  # the stick still deflected: no new jog until it has been centred
        assert not moving(blurred + 0.5)
        stick(0.0)
        for button, closed in ((0, True), (1, False)):
            page.evaluate(f"() => {{ window.__pad.buttons[{button}].pressed = true; }}")
            time.sleep(0.3)
            page.evaluate(f"() => {{ window.__pad.buttons[{button}].pressed = false; }}")
            cell.joint_states.wait_for(lambda m, closed=closed: (m.position[7] < 0.005) == closed, timeout=10,
                                       after=time.monotonic(), what=f"the gripper {'closed' if closed else 'open'}")
        gripper = [e["detail"]["command"] for e in actions(users["engineer"], "gripper")]
        assert gripper[-2:] == ["close", "open"]
    finally:
        context.close()
