"""The pendant in headless Chromium, for its browser tests and load bench (Playwright, a dev dependency).

Debian's ``/usr/bin/chromium`` (``make setup`` installs it), driven by Playwright's sync API:
``playwright install`` is never needed. ``LIVE_COUNTER`` is an init script that counts what a
page receives on the live websocket (state messages with their joint-state age, camera frames),
read back with ``page.evaluate(READ_COUNTER)``.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ("--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-quic", "--disable-component-update", "--disable-sync")
VIEWPORT = {"width": 1280, "height": 860}

# Wraps the page's WebSocket: every message counted with its arrival time (ms, performance.now()).
LIVE_COUNTER = """
window.__live = {since: performance.now(), states: 0, frames: 0, ages: [], stateTimes: [], frameTimes: []};
window.__resetLive = () => Object.assign(window.__live,
  {since: performance.now(), states: 0, frames: 0, ages: [], stateTimes: [], frameTimes: []});
const NativeWebSocket = window.WebSocket;
window.WebSocket = class extends NativeWebSocket {
  constructor(...args) {
    super(...args);
    this.addEventListener("message", (event) => {
      const live = window.__live, now = performance.now();
      if (typeof event.data === "string") {
        const message = JSON.parse(event.data);
        if (message.type !== "state") return;
        live.states += 1; live.stateTimes.push(now);
        if (message.joints) live.ages.push(message.joints.age);
      } else { live.frames += 1; live.frameTimes.push(now); }
    });
  }
};
"""
READ_COUNTER = "() => ({...window.__live, elapsed: performance.now() - window.__live.since})"
# The page keeps receiving (and counting) but draws nothing: app.js's render and showFrame become no-ops.
STOP_DRAWING = """() => {
  if (typeof render !== "function" || typeof showFrame !== "function") throw new Error("no render/showFrame");
  window.render = () => {}; window.showFrame = () => {};
}"""


def wait_for_pendant(base: str, timeout: float = 60.0, verify: ssl.SSLContext | bool = True) -> None:
    """Until the pendant at ``base`` answers (over HTTPS: trusted by ``verify``); RuntimeError after ``timeout`` s."""
    import httpx

    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{base}/api/setup", timeout=1.0, verify=verify).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"no pendant at {base} after {timeout:g} s")
        time.sleep(0.2)


def launch(playwright: Playwright, executable: str = CHROMIUM, args: Sequence[str] = (), **options: Any) -> Browser:
    """Debian's Chromium, headless, no sandbox (root in CI), nothing fetched from the network; ``args``: more
    command-line switches; ``options``: launch's."""
    return playwright.chromium.launch(executable_path=executable, headless=True, args=[*CHROMIUM_ARGS, *args],
                                      **options)


def open_page(browser: Browser, base: str, counter: bool = False) -> Page:
    """A page of the pendant at ``base`` in a fresh context (its own cookies); ``counter``: with LIVE_COUNTER."""
    context = browser.new_context(base_url=base, viewport=VIEWPORT)
    if counter:
        context.add_init_script(LIVE_COUNTER)
    page = context.new_page()
    page.goto("/")
    return page


def log_in(page: Page, name: str, password: str) -> None:
    """Fill and send the login form; returns once the Run screen shows the user."""
    from playwright.sync_api import expect

    page.get_by_test_id("login-name").fill(name)
    page.get_by_test_id("login-password").fill(password)
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("user")).to_contain_text(name)


def live_rates(counter: dict[str, Any]) -> dict[str, float]:
    """State messages and camera frames per second, the largest gap between states (s), p99 joint-state age (s)."""
    import numpy as np

    seconds = counter["elapsed"] / 1000
    gaps = np.diff(counter["stateTimes"]) / 1000 if len(counter["stateTimes"]) > 1 else np.array([np.nan])
    ages = np.array(counter["ages"] or [np.nan])
    return {"state_hz": counter["states"] / seconds, "camera_fps": counter["frames"] / seconds,
            "max_state_gap_s": float(gaps.max()), "age_p99_s": float(np.percentile(ages, 99)), "seconds": seconds}
