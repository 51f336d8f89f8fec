"""ROS 2 control latency: camera image stamp to trajectory publish in the policy node, against a bare rclpy floor.

One run, side by side in one DDS domain (loopback only): `robostral up` runs the simulated
cell (sim driver, safety supervisor, policy node) with an instruction, and a bare rclpy
publisher process sends the same image (the bundle's size, rgb8, the camera's QoS) every
control period to a bare rclpy subscriber process, both scheduled as the control path is
(the policy node's realtime_priority in launch/params/sim.yaml). Per control tick:

- policy node: the trajectory's publish time (its DDS source timestamp) minus the stamp of
  the camera image it was computed from (the policy node copies that stamp into the header);
- floor: the time the subscriber's callback runs minus the image's stamp, which the
  publisher sets just before publishing, as the sim driver does.

A tick misses its deadline when no command for its image (no floor image) was published
(received) within one control period. Once the graph has stopped, the same bundle's control
step (``ChunkController.act_chunk`` on one thread, as the node calls it) runs back to back in
this process: the node's inference time beside what the same call takes with warm caches.
CPU share: user + system time of the process over the measured ticks (/proc/<pid>/stat), in %
of one core. Writes its section of BENCHMARKS.md.

    .venv/bin/python bench/ros_latency.py [--bundle policies/robostral-s-panda] [--ticks 2000]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout, installed or not

from robostral.benchmarks.child import Child  # noqa: E402
from robostral.benchmarks.control_latency import DEFAULT_DOMAIN, INSTRUCTION, observe, row, stamp_ns  # noqa: E402
from robostral.benchmarks.publish import goal_lines, publish  # noqa: E402
from robostral.bundle.card import read_card  # noqa: E402

COMMAND = ".venv/bin/python bench/ros_latency.py"
NODE_THREADS = 1  # policy_node's `threads` parameter in launch/params
COLD_RATIO = 1.2  # the node's inference p50 against back-to-back calls of the same step
FLOOR_TOPIC = "/bench/floor/image_raw"


def policy_priority() -> int:
    """The policy node's ``realtime_priority`` in the sim graph's parameters: the floor pair runs the same way."""
    import yaml

    from robostral.ros.graph import load_graph
    from robostral.ros.realtime import PARAMETER

    parameters = yaml.safe_load(load_graph("sim").parameters.read_text())
    return int(parameters["policy_node"]["ros__parameters"].get(PARAMETER, 0))


def run_floor(role: str, size: int, rate: float, priority: int, out: Path) -> int:
    """One process of the floor pair, until SIGINT: publish an image every period, or receive them; then write out."""
    import rclpy
    from rclpy.executors import ExternalShutdownException
    from sensor_msgs.msg import Image

    from robostral.ros import contract
    from robostral.ros.messages import image_msg

    rclpy.init()
    node = rclpy.create_node(f"floor_{role}")
    if priority:
        from robostral.ros.realtime import make_realtime

        print(make_realtime(priority), flush=True)  # as the control path's nodes do (launch/params)
    records: list = []
    if role == "publish":
        publisher = node.create_publisher(Image, FLOOR_TOPIC, contract.IMAGE_QOS)
        pixels = np.random.default_rng(0).integers(0, 256, (size, size, 3), dtype=np.uint8)

        def tick() -> None:
            now = node.get_clock().now()
            records.append(now.nanoseconds)
            publisher.publish(image_msg(pixels, now.to_msg()))

        node.create_timer(1.0 / rate, tick)
    else:

        def receive(msg: Image) -> None:
            records.append((stamp_ns(msg.header.stamp), node.get_clock().now().nanoseconds))

        node.create_subscription(Image, FLOOR_TOPIC, receive, contract.IMAGE_QOS)
    with contextlib.suppress(KeyboardInterrupt, ExternalShutdownException):
        rclpy.spin(node)
    out.write_text(json.dumps(records))
    return 0


def floor_latencies(folder: Path, start: int, end: int) -> list[float | None]:
    """Floor latency (ms) of every image the floor published in [start, end); None for one never received."""
    published = [s for s in json.loads((folder / "publish.json").read_text()) if start <= s < end]
    received = {stamp: at for stamp, at in json.loads((folder / "subscribe.json").read_text())}
    return [(received[s] - s) / 1e6 if s in received else None for s in published]


def back_to_back_ms(bundle: Path, calls: int = 1000) -> float:
    """p50 (ms) of the node's control step on one observation, called back to back on the node's threads."""
    from robostral.runtime import PolicyRuntime

    runtime = PolicyRuntime(bundle, threads=NODE_THREADS)
    controller = runtime.controller()
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (1, *runtime.image_shape), dtype=np.uint8)
    wrist = None if runtime.wrist_shape is None else rng.integers(0, 256, (1, *runtime.wrist_shape), dtype=np.uint8)
    state = np.zeros((1, runtime.state_dim), dtype=np.float32)
    times = []
    for _ in range(calls + 50):
        start = time.perf_counter()
        controller.act_chunk(image, state, [INSTRUCTION], None, wrist)
        times.append((time.perf_counter() - start) * 1000)
    return float(np.percentile(times[50:], 50))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, default=Path("policies/robostral-s-panda"))
    parser.add_argument("--ticks", type=int, default=2000, help="measured control ticks (images of the sim)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone")
    parser.add_argument("--floor", choices=("publish", "subscribe"), help=argparse.SUPPRESS)  # a floor process
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--rate", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--priority", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.floor:
        return run_floor(args.floor, args.size, args.rate, args.priority, args.out)

    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    os.environ.setdefault("ROS_DOMAIN_ID", str(DEFAULT_DOMAIN))
    card = read_card(args.bundle)
    size, rate = card.image_size, float(card.control_hz)
    load, priority = os.getloadavg()[0], policy_priority()
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        up = [sys.executable, "-m", "robostral.cli", "up", "--sim", "--policy", str(args.bundle.resolve()),
              "--task", "reach", "--param", f"sim_driver.image_size={size}"]
        children = [Child(up, folder / "up.log")]
        for role in ("subscribe", "publish"):
            command = [sys.executable, __file__, "--floor", role, "--size", str(size), "--rate", str(rate),
                     "--priority", str(priority), "--out", str(folder / f"{role}.json")]
            children.append(Child(command, folder / f"{role}.log"))
        try:
            output = children[0].wait_for("graph running", timeout=120)
            policy_pid = int(output.split("started policy_node (pid ")[-1].split(")")[0])
            pids = {"policy": policy_pid, "floor": children[1].process.pid, "floor publisher": children[2].process.pid}
            result = observe(args.ticks, pids)
        finally:
            for child in reversed(children):
                child.stop()
        floor = floor_latencies(folder, result["start"], result["end"])
    warm_p50 = back_to_back_ms(args.bundle)

    period_ms = 1000 / rate
    seconds = (result["end"] - result["start"]) / 1e9
    rows = [
        row(f"floor: bare rclpy publisher -> subscriber ({size}x{size} rgb8)", floor, period_ms,
            result["cpu"]["floor"] + result["cpu"]["floor publisher"]),
        row("policy node: image stamp -> trajectory publish", result["latency_ms"], period_ms, result["cpu"]["policy"]),
    ]
    floor_p99, policy_p99 = rows[0][3], rows[1][3]
    inference_p50, inference_p99 = (float(result["policy"].get(f"inference_{q}_ms") or "nan") for q in ("p50", "p99"))
    bound = 2 * floor_p99 + inference_p99
    goals = [
        (f"policy p99 within 2x the floor p99 + the inference p99 ({bound:.2f} ms)", policy_p99 <= bound),
        (f"no missed deadline at {rate:g} Hz", rows[1][5] == 0),
        (f"the node's inference p50 within {COLD_RATIO:g}x of the same step back to back", inference_p50
         <= COLD_RATIO * warm_p50),
    ]
    text = "\n".join([
        f"Bundle `{args.bundle}`, `robostral up --sim --task reach` with the instruction \"{INSTRUCTION}\"; "
        f"the floor pair in the same domain at the same time, on the control path's scheduling "
        f"({f'SCHED_FIFO {priority}' if priority else 'normal'}). {rows[1][1]} ticks in {seconds:.0f} s "
        f"({rows[1][1] / seconds:.1f} Hz from the sim); deadline {period_ms:g} ms; load average {load:.2f} at start.",
        "",
        "| path | ticks | p50 (ms) | p99 (ms) | max (ms) | missed deadlines | CPU (% of one core) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        *[f"| {n} | {k} | {p50:.2f} | {p99:.2f} | {top:.2f} | {m} | {c:.1f} |" for n, k, p50, p99, top, m, c in rows],
        "",
        f"- policy inference (ONNX Runtime, the node's last 1000 steps, from /diagnostics): p50 {inference_p50:.2f} ms,"
        f" p99 {inference_p99:.2f} ms; the same step back to back in this process once the graph stopped "
        f"({NODE_THREADS} thread, 1000 calls): p50 {warm_p50:.2f} ms, so the node takes "
        f"{inference_p50 / warm_p50:.2f}x",
        *goal_lines(goals),
    ])
    publish("ros_latency", COMMAND, "ROS 2 observation-to-command latency", text, write=not args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
