"""The teach pendant end to end in a real browser: headless Chromium (Debian's, driven by Playwright).

`robostral up --sim` runs the simulated cell with the tiny test policy and the pendant in it; the
test clicks and holds the page's buttons (data-testids), as an operator would, while its Probe
watches /joint_states and the pendant's commands over DDS. Tests run in file order on one cell,
one browser and one admin page: first start, login, hold-to-jog, teaching, a program with a skill,
e-stop, roles. Screenshots of the main screens land in runs/pendant-screenshots/.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pendant_browser
import pytest
from PIL import Image as PilImage
from ros_helpers import ROOT, Probe, Topic, free_port, robostral_up, stamp_seconds, wait_until
from sensor_msgs.msg import JointState
from std_msgs.msg import String
from trajectory_msgs.msg import JointTrajectory

from robostral.bundle.card import read_card
from robostral.pendant.motion.planner import Planner
from robostral.pendant.motion.streaming import HEARTBEAT_TIMEOUT
from robostral.ros import contract
from robostral.safety import SafetyConfig

playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is a dev dependency")
if not Path(pendant_browser.CHROMIUM).exists():
    pytest.skip(f"no {pendant_browser.CHROMIUM}: `make setup` installs Debian's chromium", allow_module_level=True)
expect = playwright_api.expect

PASSWORD = "correct horse battery"
PERIOD = 0.05  # s: the pendant's and the sim's control period
AT_REST = 0.01  # rad/s
SLOW = 0.02  # rad/s: a joint that jogged at ~0.5 rad/s has stopped
SETTLE = 0.15  # s for the controller to bring the arm to its hold target once the commands stop
SKILL = "reach the green target"
SHOTS = ROOT / "runs" / "pendant-screenshots"


@dataclass
class Cell:
    probe: Probe
    base: str
    joint_states: Topic
    commands: Topic  # the pendant's trajectories to the supervisor

    def arm(self) -> np.ndarray:
        return np.array(self.joint_states.latest().position[:7])

    def wait_at_rest(self) -> None:
        time.sleep(0.3)
        self.joint_states.wait_for(lambda m: max(map(abs, m.velocity)) < AT_REST, after=time.monotonic(),
                                   what="the arm at rest")


@pytest.fixture(scope="module")
def cell(tmp_path_factory, pipeline):
    root = tmp_path_factory.mktemp("pendant-browser")
    (root / "policies").mkdir()
    (root / "policies" / "tiny").symlink_to(pipeline.bundle, target_is_directory=True)
    port = free_port()
    arguments = ["--sim", "--task", "reach", "--policy", str(pipeline.bundle),
                 "--param", "sim_driver.image_size=32", "--param", "sim_driver.randomization_level=0.0",
                 "--param", f"pendant.db={root / 'pendant.db'}", "--param", f"pendant.port={port}",
                 "--param", f"pendant.policies_dir={root / 'policies'}"]
    with robostral_up(arguments, root / "up.log") as (_, probe):
        base = f"http://127.0.0.1:{port}"
        pendant_browser.wait_for_pendant(base)
        yield Cell(probe, base, probe.record(contract.JOINT_STATES, JointState, contract.JOINT_STATES_QOS),
                   probe.record(contract.PENDANT_TRAJECTORY, JointTrajectory, contract.POLICY_TRAJECTORY_QOS))


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as playwright:
        chromium = pendant_browser.launch(playwright)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def page(cell, browser):
    """The admin's page, shared by the tests in file order."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = pendant_browser.open_page(browser, cell.base, counter=True)
    page.set_default_timeout(10_000)
    yield page
    page.context.close()


def tab(page, name: str) -> None:
    page.get_by_test_id(f"tab-{name}").click()


def shot(page, name: str) -> None:
    page.screenshot(path=SHOTS / f"{name}.png")


def jog_step(page, cell: Cell, step: str, button: str) -> None:
    """Jog one step (degrees or mm) with the Jog screen's button, then wait for the arm to settle."""
    tab(page, "jog")
    page.locator(f"label:has([data-testid='jog-step-{step}'])").click()
    start = cell.arm()
    page.get_by_test_id(button).click()
    cell.joint_states.wait_for(lambda m: np.abs(np.array(m.position[:7]) - start).max() > 0.005, timeout=5,
                               after=time.monotonic() - 0.5, what=f"the arm moved by {button}")
    cell.wait_at_rest()


def waypoint(page, name: str) -> np.ndarray:
    """The arm joints (rad) of a taught waypoint, read with the page's session."""
    waypoints = page.request.get("/api/waypoints").json()["waypoints"]
    return np.array(list(next(w for w in waypoints if w["name"] == name)["joints"].values()))[:7]


def add_step(page, kind: str, **fields: str) -> None:
    page.get_by_test_id("step-type").select_option(kind)
    for name, value in fields.items():
        field = page.get_by_test_id(f"step-{name}")
        if field.evaluate("node => node.tagName") == "SELECT":
            field.select_option(value)
        else:
            field.fill(value)
    page.get_by_test_id("step-add").click()


def build_program(page, name: str, steps: list[tuple[str, dict[str, str]]]) -> None:
    """A new program on the Program screen: its steps added, saved, its version approved."""
    tab(page, "program")
    page.get_by_test_id("program-new").click()
    page.get_by_test_id("program-name").fill(name)
    for kind, fields in steps:
        add_step(page, kind, **fields)
    expect(page.locator("[data-testid='program-editor'] > li")).to_have_count(len(steps))
    page.get_by_test_id("save-program").click()
    expect(page.get_by_test_id("program-version")).to_have_text("version 1")
    page.get_by_test_id("approve-program").click()
    expect(page.get_by_test_id("program-version")).to_have_text("version 1 (approved)")


def test_first_start_creates_the_admin_in_the_form(page):
    expect(page.get_by_test_id("setup-form")).to_be_visible()
    page.get_by_test_id("setup-name").fill("ada")
    page.get_by_test_id("setup-password").fill(PASSWORD)
    page.get_by_test_id("setup-submit").click()
    expect(page.get_by_test_id("user")).to_have_text("ada (admin)")
    expect(page.get_by_test_id("connection")).to_have_text("live")
    expect(page.get_by_test_id("tab-users")).to_be_visible()


def test_log_out_and_log_in(page):
    page.get_by_test_id("logout").click()
    expect(page.get_by_test_id("login-form")).to_be_visible()
    expect(page.get_by_test_id("tab-run")).to_be_hidden()
    page.get_by_test_id("login-name").fill("ada")
    page.get_by_test_id("login-password").fill("not the password")
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("message")).to_have_text("wrong user name or password")
    pendant_browser.log_in(page, "ada", PASSWORD)
    expect(page.get_by_test_id("message")).to_be_hidden()
    expect(page.get_by_test_id("connection")).to_have_text("live")
    expect(page.get_by_test_id("run-resume")).to_be_disabled()  # nothing paused
    expect(page.get_by_test_id("safety-state")).to_have_text("idle")
    # the Run screen: the camera (a frame arrived) and the joints, live
    wait_until(lambda: page.get_by_test_id("camera").evaluate("img => img.naturalWidth") > 0, 10, "a camera frame")
    expect(page.get_by_test_id("joint-0")).to_contain_text("°")
    shot(page, "run")


def test_the_live_view_keeps_up_with_the_joint_state_and_the_camera(page):
    page.evaluate("() => window.__resetLive()")
    time.sleep(5)
    rates = pendant_browser.live_rates(page.evaluate(pendant_browser.READ_COUNTER))
    # sent at 20 Hz and 10 fps on a fixed schedule: 100 +- 1 states and 50 +- 1 frames in 5 s
    assert rates["state_hz"] >= 19.6 and rates["camera_fps"] >= 9.6, rates


def test_the_run_screen_shows_what_the_policy_sees(page, cell, pipeline):
    """The policy node's input after its crop and resize, as a PNG the page refreshes while its panel is open."""
    size = read_card(pipeline.bundle).image_size
    tab(page, "run")
    page.get_by_test_id("policy-input-panel").locator("summary").click()
    wait_until(lambda: page.get_by_test_id("policy-input").evaluate("img => img.naturalWidth") == size, 10,
               "the policy's camera input in the page")
    response = page.request.get("/api/camera/policy-input")
    assert response.status == 200 and response.headers["content-type"] == "image/png"
    assert PilImage.open(io.BytesIO(response.body())).size == (size, size)
    assert httpx.get(f"{cell.base}/api/camera/policy-input").status_code == 401  # not without a session
    page.get_by_test_id("policy-input-panel").locator("summary").click()


def test_a_nan_joint_state_shows_as_unusable_without_page_errors_or_lost_updates(page, cell):
    errors = []

    def record(error) -> None:  # a function of its own: Playwright tags the handler it is given
        errors.append(error)

    page.on("pageerror", record)
    names = list(cell.joint_states.latest().name)
    nan = JointState(name=names, position=[float("nan")] * len(names), velocity=[0.0] * len(names))
    publisher = cell.probe.publisher(contract.JOINT_STATES, JointState, contract.JOINT_STATES_QOS)
    try:
        with cell.probe.every(0.005, lambda: publisher.publish(nan)):  # 10 times the driver's rate: mostly the latest
            expect(page.get_by_test_id("joints-invalid")).to_contain_text("NaN")
            expect(page.get_by_test_id("joint-0")).to_have_text("—")
            page.evaluate("() => window.__resetLive()")
            time.sleep(3)
            rates = pendant_browser.live_rates(page.evaluate(pendant_browser.READ_COUNTER))
        expect(page.get_by_test_id("joints-invalid")).to_be_hidden()
        expect(page.get_by_test_id("joint-0")).to_contain_text("°")
    finally:
        page.remove_listener("pageerror", record)
    assert not errors, errors
    # broken, it fell to ~4 a second; the flood itself costs the 20 Hz a little CPU on a small machine
    assert rates["state_hz"] >= 15, rates
    time.sleep(1.0)  # the flood drained from the supervisor's queue
    page.get_by_test_id("reset").click()  # the supervisor may have latched a fault on the spoofed state
    page.get_by_test_id("confirm-yes").click()
    expect(page.get_by_test_id("safety-state")).to_have_text("idle")


def test_hold_to_jog_moves_a_joint_and_release_stops_it(page, cell):
    cell.wait_at_rest()
    tab(page, "jog")
    expect(page.get_by_test_id("jog-step-hold")).to_be_checked()
    start = cell.arm()[0]
    page.get_by_test_id("jog-joint-0-plus").hover()
    page.mouse.down()
    pressed = time.monotonic()
    cell.joint_states.wait_for(lambda m: m.position[0] - start > 0.05, timeout=3, after=pressed,
                               what="joint 1 moving while the button is held")
    expect(page.get_by_test_id("jog-joint-0-plus")).to_have_class("held")
    shot(page, "jog")
    time.sleep(0.3)
    released = time.monotonic()
    page.mouse.up()
    time.sleep(1.0)
    bound = HEARTBEAT_TIMEOUT + PERIOD + 0.05  # 0.2 s + a control period + a margin (the page sends 'stop' at once)
    moving = [t for t, m in cell.commands.since(pressed) if len(m.points) > 1]  # a hold is one point
    assert moving and moving[-1] - released <= bound, f"motion streamed {moving[-1] - released:.3f} s after release"
    after = cell.joint_states.since(released)
    moving_at = [t for t, m in after if abs(m.velocity[0]) >= SLOW]
    still = moving_at[-1] if moving_at else released  # after this joint state, joint 1 stays under SLOW
    assert still - released <= bound + SETTLE, f"joint 1 still moving {still - released:.3f} s after release"
    assert max(abs(v) for v in after[-1][1].velocity) < AT_REST
    assert after[-1][1].position[0] - start > 0.1  # it went somewhere


def test_a_tool_frame_step_sends_the_frame_and_moves_along_the_tools_x(page, cell):
    cell.wait_at_rest()
    tab(page, "jog")
    expect(page.get_by_test_id("jog-frame-base")).to_be_checked()
    expect(page.get_by_test_id("jog-frame-label")).to_have_text("base")
    page.locator("label:has([data-testid='jog-frame-tool'])").click()
    expect(page.get_by_test_id("jog-frame-label")).to_have_text("tool")
    frame = Planner(SafetyConfig()).frame
    before, rotation = frame.pose(cell.arm())
    with page.expect_request("**/api/jog") as sent:
        jog_step(page, cell, "10", "jog-x-plus")
    assert sent.value.post_data_json == {"mode": "cartesian", "axis": "x", "direction": 1, "frame": "tool", "step": 10}
    moved = frame.pose(cell.arm())[0] - before
    assert 0.007 < np.linalg.norm(moved) < 0.013, moved
    assert moved @ rotation[:, 0] / np.linalg.norm(moved) > np.cos(np.radians(5)), (moved, rotation[:, 0])
    page.locator("label:has([data-testid='jog-frame-base'])").click()
    expect(page.get_by_test_id("jog-frame-label")).to_have_text("base")


def test_teach_two_waypoints(page, cell):
    for name, button in (("a", "jog-joint-0-plus"), ("b", "jog-joint-0-minus")):
        jog_step(page, cell, "10", button)
        tab(page, "program")
        page.get_by_test_id("waypoint-name").fill(name)
        page.get_by_test_id("save-waypoint").click()
        expect(page.get_by_test_id(f"waypoint-{name}")).to_be_visible()
    a, b = (waypoint(page, name) for name in "ab")
    assert abs(a[0] - b[0] - np.radians(10)) < 0.01 and np.abs(a[1:] - b[1:]).max() < 0.01


def test_build_and_run_a_program_with_a_skill_confirmed_in_the_page(page, cell):
    build_program(page, "demo", [
        ("move", {"waypoint": "a", "mode": "joint", "speed": "0.5"}),
        ("move", {"waypoint": "b", "mode": "linear", "speed": "0.3"}),
        ("skill", {"instruction": SKILL, "timeout": "30"}),
        ("move", {"waypoint": "a", "mode": "joint", "speed": "0.5"}),
    ])
    shot(page, "program")
    started = time.monotonic()
    page.get_by_test_id("run-program").click()
    tab(page, "run")
    expect(page.get_by_test_id("run-program-name")).to_have_text("demo v1")
    confirm = page.get_by_test_id("skill-confirm")
    expect(confirm).to_be_visible(timeout=20_000)
    expect(page.get_by_test_id("instruction")).to_have_text(SKILL)
    expect(page.get_by_test_id("run-step-2")).to_have_class("current")
    policy = cell.probe.record(contract.POLICY_TRAJECTORY, JointTrajectory, contract.POLICY_TRAJECTORY_QOS)
    policy.wait_for(timeout=10, what="the policy commanding the arm during the skill")
    confirm.click()
    expect(confirm).to_be_hidden()
    expect(page.get_by_test_id("run-state")).to_have_text("finished", timeout=20_000)
    expect(page.get_by_test_id("instruction")).to_have_text("(none)")
    cell.wait_at_rest()
    assert np.abs(cell.arm() - waypoint(page, "a")).max() < 0.02
    moved = [m.position[0] for _, m in cell.joint_states.since(started)]
    assert max(moved) - min(moved) > np.radians(9)  # a -> b -> a


# The page's fetch, with every /api/programs request held back a second: a slow cell controller.
SLOW_PROGRAM_REQUESTS = """() => {
  const original = window.fetch;
  window.__slowed = [];
  window.__pending = 0;
  window.__restoreFetch = () => { window.fetch = original; };
  window.fetch = async (path, options) => {
    if (!String(path).startsWith('/api/programs')) return original(path, options);
    window.__slowed.push(String(path));
    window.__pending++;
    try {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      return await original(path, options);
    } finally { window.__pending--; }
  };
}"""


def test_a_slow_screen_load_never_replaces_the_program_being_written(page):
    """New program and step fields entered while the Program screen still loads are kept.

    The screen's load used to open the last program over the new one and reset the step fields.
    """
    page.evaluate(SLOW_PROGRAM_REQUESTS)
    try:
        tab(page, "program")
        wait_until(lambda: "/api/programs/demo" in page.evaluate("() => window.__slowed"), 10,
                   "the Program screen opening the last program")
        page.get_by_test_id("program-new").click()
        page.get_by_test_id("program-name").fill("draft")
        page.get_by_test_id("step-type").select_option("move")
        page.get_by_test_id("step-waypoint").select_option("b")
        page.get_by_test_id("step-speed").fill("0.05")
        wait_until(lambda: page.evaluate("() => window.__pending") == 0, 10, "the Program screen loaded")
        time.sleep(0.5)  # the load's last step, after its request answered
        page.get_by_test_id("step-add").click()
        expect(page.get_by_test_id("program-name")).to_have_value("draft")
        expect(page.get_by_test_id("program-select")).to_have_value("")
        expect(page.locator("[data-testid='program-editor'] > li")).to_have_count(1)
        expect(page.get_by_test_id("step-0")).to_contain_text("move (joint) to b at 5%")
    finally:
        page.evaluate("() => window.__restoreFetch()")


def test_estop_mid_run_stops_the_arm_and_halts_the_program(page, cell):
    build_program(page, "slow", [("move", {"waypoint": "b", "mode": "joint", "speed": "0.05"}),
                                 ("wait", {"seconds": "5"})])
    page.get_by_test_id("run-program").click()
    tab(page, "run")
    cell.joint_states.wait_for(lambda m: max(map(abs, m.velocity)) > 0.02, timeout=5, after=time.monotonic(),
                               what="the arm moving")
    pressed, pressed_clock = time.monotonic(), time.time()
    page.get_by_test_id("estop").click()
    _, rest = cell.joint_states.wait_for(lambda m: max(map(abs, m.velocity)) < AT_REST, timeout=2, after=pressed,
                                         what="the arm stopped after the e-stop")
    stopped = stamp_seconds(rest) - pressed_clock  # by the sim driver's stamp, not when this probe heard of it
    assert 0 < stopped <= 0.5, f"the arm stopped {stopped:.3f} s after the e-stop was pressed"
    expect(page.get_by_test_id("run-state")).to_contain_text("halted: e-stop by ada")
    expect(page.get_by_test_id("safety-state")).to_have_text("estopped")
    expect(page.get_by_test_id("safety-badge")).to_have_class("badge bad")
    time.sleep(0.5)
    assert not [m for _, m in cell.commands.since(pressed + 0.2) if len(m.points) > 1]
    assert max(map(abs, cell.joint_states.latest().velocity)) < AT_REST
    shot(page, "estopped")


def test_an_operator_added_by_the_admin_is_refused_a_reset(page, cell, browser):
    tab(page, "users")
    page.get_by_test_id("user-name").fill("otto")
    page.get_by_test_id("user-password").fill(PASSWORD)
    page.get_by_test_id("user-role").select_option("operator")
    page.get_by_test_id("user-add").click()
    expect(page.get_by_test_id("user-otto-role")).to_have_value("operator")
    operator = pendant_browser.open_page(browser, cell.base)
    try:
        pendant_browser.log_in(operator, "otto", PASSWORD)
        expect(operator.get_by_test_id("safety-state")).to_have_text("estopped")
        expect(operator.get_by_test_id("reset")).to_be_disabled()
        expect(operator.get_by_test_id("tab-audit")).to_be_hidden()
        refused = operator.evaluate("""async () => {
            const response = await fetch('/api/reset', {method: 'POST', body: JSON.stringify({confirm: true}),
              headers: {'Content-Type': 'application/json', 'X-CSRF-Token': state.session.csrf_token}});
            return {status: response.status, error: (await response.json()).error}; }""")
        assert refused["status"] == 403 and "may not" in refused["error"], refused
        time.sleep(0.2)
        expect(operator.get_by_test_id("safety-state")).to_have_text("estopped")
    finally:
        operator.context.close()
    tab(page, "run")
    page.get_by_test_id("reset").click()
    page.get_by_test_id("confirm-yes").click()
    expect(page.get_by_test_id("safety-state")).to_have_text("idle")


def test_anonymous_requests_get_401_and_the_login_screen(cell, browser):
    assert httpx.get(f"{cell.base}/api/state").status_code == 401
    assert httpx.post(f"{cell.base}/api/jog", json={"mode": "joint", "axis": 0, "direction": 1, "step": 1},
                      headers={"Origin": cell.base}).status_code == 401
    anonymous = pendant_browser.open_page(browser, cell.base)
    try:
        expect(anonymous.get_by_test_id("login-form")).to_be_visible()
        assert anonymous.request.get("/api/state").status == 401
    finally:
        anonymous.context.close()


def test_the_estop_stops_the_arm_from_the_login_screen(page, cell, browser):
    states = cell.probe.record(contract.SUPERVISOR_STATE, String, contract.LATCHED_QOS)
    anonymous = pendant_browser.open_page(browser, cell.base)
    try:
        expect(anonymous.get_by_test_id("login-form")).to_be_visible()
        pressed = time.monotonic()
        anonymous.get_by_test_id("estop").click()
        expect(anonymous.get_by_test_id("message")).to_contain_text("E-STOP: e-stop latched")
        states.wait_for(lambda m: m.data.startswith("estopped"), timeout=5, after=pressed - 0.5,
                        what="the supervisor e-stopped by a press on the login screen")
    finally:
        anonymous.context.close()
    tab(page, "run")
    expect(page.get_by_test_id("safety-state")).to_have_text("estopped")
    page.get_by_test_id("reset").click()  # resetting still takes an engineer
    page.get_by_test_id("confirm-yes").click()
    expect(page.get_by_test_id("safety-state")).to_have_text("idle")


def test_screenshots_of_the_policies_and_audit_screens(page):
    tab(page, "policies")
    expect(page.get_by_test_id("policy-tiny")).to_contain_text("yes")
    shot(page, "policies")
    tab(page, "audit")
    expect(page.get_by_test_id("audit")).to_contain_text("estop")
    shot(page, "audit")
