"""Teach pendant load: the control loop's latency with no pendant client and with two Chromium clients, side by side.

One run, one graph: `robostral up --sim --task reach` with the bundle and the instruction of
bench/ros_latency.py, the pendant in it (own port and database), one DDS domain on loopback. Three
phases in turn, ``--rounds`` times: no client; two headless Chromium browsers (Debian's, driven by
Playwright) logged in on the Run screen but drawing nothing (app.js's render and showFrame made
no-ops: the websocket load alone, what serving the pendant costs); the same two drawing the Run
screen (camera, joints, safety, program), as an operator sees it. In every phase the control loop's
latency is measured as bench/ros_latency.py does (``robostral.benchmarks.control_latency.observe``:
camera image stamp -> trajectory publish in the policy node, ``--ticks`` control ticks), with the
CPU time of the policy node, the pendant node and all the browsers' processes. A counter in each
page (``tests/pendant_browser.py (LIVE_COUNTER)``) counts what its websocket delivers: state
messages (the joint state, 20 Hz) and camera frames (JPEG). Out of their phases the pages sit on
about:blank (websocket closed, browser running). The browsers run as an operator's would, without
the right to raise their priority: as root, Chromium moves its display threads to nice -8, ahead of
every normally scheduled process (the control path's nodes run on SCHED_FIFO,
robostral/ros/realtime.py). Writes its section of BENCHMARKS.md.

    .venv/bin/python bench/pendant_load.py [--bundle policies/robostral-s-panda] [--ticks 1000] [--rounds 2]
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import tempfile
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout, installed or not

from robostral.benchmarks.child import Child  # noqa: E402
from robostral.benchmarks.control_latency import DEFAULT_DOMAIN, INSTRUCTION, observe, row  # noqa: E402
from robostral.benchmarks.publish import goal_lines, publish  # noqa: E402
from robostral.bundle.card import read_card  # noqa: E402
from tests import pendant_browser as headless  # noqa: E402

COMMAND = ".venv/bin/python bench/pendant_load.py"
CLIENTS = 2
PHASES = {"none": "no pendant client", "quiet": f"{CLIENTS} Chromium clients, drawing off (websocket only)",
          "run": f"{CLIENTS} Chromium clients on the Run screen"}
USER, PASSWORD = "bench", "bench password 1"
MARKER = "ROBOSTRAL_BENCH_BROWSER"  # in the environment of the browsers' processes: finds them for their CPU time
STATE_HZ, CAMERA_FPS = 20.0, 10.0  # goals per client
RESOLUTION = 0.01  # a rate within 1% of its goal meets it: the server sends at exactly 20 Hz and 10 fps
LATENCY_SLACK = 0.10  # with clients, p50 and p99 within 10% of the no-client figures


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def browser_pids() -> list[int]:
    """Every live process of the bench's browsers: those started with MARKER, and all their descendants."""
    needle, parents, pids = f"{MARKER}={os.getpid()}".encode(), {}, set()
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit():
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                if needle in (entry / "environ").read_bytes().split(b"\0"):
                    pids.add(int(entry.name))
        except OSError:  # gone, or not ours
            continue
    while grown := {pid for pid, parent in parents.items() if parent in pids} - pids:
        pids |= grown
    return sorted(pids)


def unprivileged_chromium(folder: Path) -> str:
    """An executable that runs Chromium without the right to raise any priority (CAP_SYS_NICE), as a user's does."""
    wrapper = folder / "chromium"
    wrapper.write_text(f'#!/bin/sh\nexec setpriv --bounding-set -sys_nice -- {headless.CHROMIUM} "$@"\n')
    wrapper.chmod(0o755)
    return str(wrapper)


def show_run_screen(page, base: str) -> None:
    """Open the Run screen (the session cookie logs it in); once live with a camera frame, zero its counter."""
    from playwright.sync_api import expect

    page.goto(f"{base}/")
    expect(page.get_by_test_id("connection")).to_have_text("live", timeout=15_000)
    page.wait_for_function("() => document.querySelector('[data-testid=camera]').naturalWidth > 0", timeout=15_000)
    page.evaluate("() => window.__resetLive()")


def client_row(name: str, counters: list[dict]) -> tuple:
    """One client over all its phases: seconds, state messages/s, camera frames/s, largest state gap (ms), age p99."""
    rates = [headless.live_rates(c) for c in counters]
    seconds = sum(r["seconds"] for r in rates)
    return (name, seconds, sum(r["state_hz"] * r["seconds"] for r in rates) / seconds,
            sum(r["camera_fps"] * r["seconds"] for r in rates) / seconds,
            1000 * max(r["max_state_gap_s"] for r in rates), 1000 * max(r["age_p99_s"] for r in rates))


def measure(args: argparse.Namespace, folder: Path) -> dict:
    """Start the cell and the browsers; alternate the phases; per phase the latencies, CPU shares and page counters."""
    from playwright.sync_api import sync_playwright

    size = read_card(args.bundle).image_size
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    up = [sys.executable, "-m", "robostral.cli", "up", "--sim", "--policy", str(args.bundle.resolve()),
          "--task", "reach", "--param", f"sim_driver.image_size={size}",
          "--param", f"pendant.port={port}", "--param", f"pendant.db={folder / 'pendant.db'}"]
    graph = Child(up, folder / "up.log")
    latencies: dict[str, list] = {phase: [] for phase in PHASES}
    cpu: dict[str, list] = {phase: [] for phase in PHASES}
    counters: dict[str, list[list[dict]]] = {phase: [[] for _ in range(CLIENTS)] for phase in PHASES if phase != "none"}
    try:
        output = graph.wait_for("graph running", timeout=120)
        nodes = {node: int(output.split(f"started {node} (pid ")[-1].split(")")[0]) for node in ("policy_node",
                                                                                               "pendant")}
        headless.wait_for_pendant(base)
        httpx.post(f"{base}/api/setup", json={"name": USER, "password": PASSWORD}, headers={"Origin": base},
                   timeout=30).raise_for_status()
        with sync_playwright() as playwright:
            executable, env = unprivileged_chromium(folder), {**os.environ, MARKER: str(os.getpid())}
            browsers = [headless.launch(playwright, executable, env=env) for _ in range(CLIENTS)]
            pages = [headless.open_page(browser, base, counter=True) for browser in browsers]
            for page in pages:
                headless.log_in(page, USER, PASSWORD)
                page.goto("about:blank")
            for round_ in range(args.rounds):
                for phase, name in PHASES.items():
                    print(f"round {round_ + 1}/{args.rounds}: {name}", file=sys.stderr, flush=True)
                    clients = pages if phase != "none" else []
                    for page in clients:
                        show_run_screen(page, base)
                        if phase == "quiet":
                            page.evaluate(headless.STOP_DRAWING)
                    result = observe(args.ticks, {**nodes, **{f"browser {pid}": pid for pid in browser_pids()}})
                    latencies[phase] += result["latency_ms"]
                    browsers_cpu = sum(share for key, share in result["cpu"].items() if key.startswith("browser"))
                    cpu[phase].append({**{node: result["cpu"][node] for node in nodes}, "browsers": browsers_cpu})
                    for i, page in enumerate(clients):
                        counters[phase][i].append(page.evaluate(headless.READ_COUNTER))
                    if phase == "run" and args.screenshot and round_ == 0:
                        clients[0].screenshot(path=str(args.screenshot))
                    for page in clients:
                        page.goto("about:blank")
            for browser in browsers:
                browser.close()
    finally:
        graph.stop()
    return {"size": size, "latencies": latencies, "counters": counters,
            "cpu": {phase: {key: float(np.mean([c[key] for c in runs])) for key in runs[0]}
                    for phase, runs in cpu.items()}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, default=Path("policies/robostral-s-panda"))
    parser.add_argument("--ticks", type=int, default=1000, help="measured control ticks per phase")
    parser.add_argument("--rounds", type=int, default=2, help="times the three phases run, in turn")
    parser.add_argument("--screenshot", type=Path, help="save a client's Run screen (first round) here")
    parser.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone")
    args = parser.parse_args(argv)
    if not Path(headless.CHROMIUM).exists():
        raise SystemExit(f"no {headless.CHROMIUM}: `make setup` installs Debian's chromium")

    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    os.environ.setdefault("ROS_DOMAIN_ID", str(DEFAULT_DOMAIN))
    rate = float(read_card(args.bundle).control_hz)
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as temporary:
        result = measure(args, Path(temporary))

    period_ms, cpu = 1000 / rate, result["cpu"]
    latency = {phase: row(name, result["latencies"][phase], period_ms, cpu[phase]["policy_node"])
               for phase, name in PHASES.items()}
    clients = {phase: [client_row(f"{PHASES[phase]}: client {i}", c) for i, c in enumerate(counters, 1)]
               for phase, counters in result["counters"].items()}
    ratios = {phase: {q: latency[phase][i] / latency["none"][i] for q, i in (("p50", 2), ("p99", 3))}
              for phase in clients}
    goals = [(f"{name}: >= {STATE_HZ:g} Hz joint state and >= {CAMERA_FPS:g} fps camera",
              state >= STATE_HZ * (1 - RESOLUTION) and camera >= CAMERA_FPS * (1 - RESOLUTION))
             for name, _, state, camera, _, _ in clients["run"]]
    goals += [(f"{PHASES['run']}: control loop {q} within {LATENCY_SLACK:.0%} of no client ({value:.2f}x)",
               value <= 1 + LATENCY_SLACK) for q, value in ratios["run"].items()]
    text = "\n".join([
        f"Bundle `{args.bundle}`, `robostral up --sim --task reach` ({result['size']}x{result['size']} camera) with "
        f"the instruction \"{INSTRUCTION}\" and the pendant in the graph; {args.rounds} rounds of the three phases "
        f"in turn, {args.ticks} ticks each; clients: headless Chromium (Debian's, Playwright), one browser each, "
        f"logged in on the Run screen (drawing off: its render and showFrame made no-ops), without the right to "
        f"raise their priority; load average {load:.2f} at start. Latency as in `bench/ros_latency.py`: camera "
        f"image stamp -> trajectory publish in the policy node; deadline {period_ms:g} ms.",
        "",
        "| pendant clients | ticks | p50 (ms) | p99 (ms) | max (ms) | missed deadlines | policy node CPU (%) "
        "| pendant CPU (%) | browsers CPU (%) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        *[f"| {n} | {k} | {p50:.2f} | {p99:.2f} | {top:.2f} | {m} | {c:.1f} | {100 * cpu[phase]['pendant']:.1f} "
          f"| {100 * cpu[phase]['browsers']:.1f} |" for phase, (n, k, p50, p99, top, m, c) in latency.items()],
        "",
        "What each client's page received on its websocket (counted in the page):",
        "",
        "| client | seconds | joint state (messages/s) | camera (frames/s) | largest gap between states (ms) "
        "| joint-state age p99 (ms) |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
        *[f"| {n} | {s:.0f} | {hz:.2f} | {fps:.2f} | {gap:.0f} | {age:.0f} |"
          for group in clients.values() for n, s, hz, fps, gap, age in group],
        "",
        f"- rates are judged to {RESOLUTION:.0%}: the server sends the state at exactly {STATE_HZ:g} Hz and a new "
        f"camera frame every second state ({CAMERA_FPS:g} fps)",
        f"- {PHASES['quiet']}: control loop p50 {ratios['quiet']['p50']:.2f}x, p99 {ratios['quiet']['p99']:.2f}x "
        "of no client",
        *goal_lines(goals),
    ])
    publish("pendant_load", COMMAND, "Teach pendant under load", text, write=not args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
