"""The control loop's latency in a running `robostral up` graph, as bench/ros_latency.py and bench/pendant_load.py
measure it: camera image stamp to trajectory publish in the policy node, and the CPU time of chosen processes."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

DEFAULT_DOMAIN = 88  # ROS_DOMAIN_ID when none is set: away from the default 0 of other graphs
WARMUP = 40  # commands before the measured ticks start (the first inferences warm caches up)
INSTRUCTION = "reach the green target"


def stamp_ns(stamp) -> int:
    """A ROS time stamp (builtin_interfaces/Time) in nanoseconds since the epoch."""
    return stamp.sec * 1_000_000_000 + stamp.nanosec


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime: fields 14, 15


def observe(ticks: int, pids: dict[str, int]) -> dict:
    """Watch the running cell: image stamps, commands (stamp -> publish time), CPU; until ``ticks`` images."""
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from sensor_msgs.msg import Image
    from std_msgs.msg import String
    from trajectory_msgs.msg import JointTrajectory

    from robostral.ros import contract
    from robostral.ros.messages import diagnostic_values

    rclpy.init()
    node = rclpy.create_node("bench_ros_latency")
    images: list[int] = []
    commands: dict[int, int] = {}  # image stamp -> first publish time (ns since the epoch)
    policy: dict[str, str] = {}

    def on_command(msg: JointTrajectory, info) -> None:
        commands.setdefault(stamp_ns(msg.header.stamp), info["source_timestamp"])

    def on_diagnostics(msg: DiagnosticArray) -> None:
        for status in msg.status:
            if status.name == "policy_node":
                policy.update(diagnostic_values(status))

    node.create_subscription(Image, contract.CAMERA_IMAGE, lambda m: images.append(stamp_ns(m.header.stamp)),
                             contract.IMAGE_QOS)
    node.create_subscription(JointTrajectory, contract.POLICY_TRAJECTORY, on_command, contract.POLICY_TRAJECTORY_QOS)
    node.create_subscription(DiagnosticArray, contract.DIAGNOSTICS, on_diagnostics, contract.DIAGNOSTICS_QOS)
    node.create_publisher(String, contract.INSTRUCTION, contract.LATCHED_QOS).publish(String(data=INSTRUCTION))
    deadline = time.monotonic() + 60
    while len(commands) < WARMUP:
        rclpy.spin_once(node, timeout_sec=0.1)
        if time.monotonic() > deadline:
            raise RuntimeError(f"the policy node sent {len(commands)} commands in 60 s; is the cell running?")
    start, first, cpu = time.time_ns(), len(images), {name: cpu_seconds(pid) for name, pid in pids.items()}
    shown = time.monotonic()
    while (seen := len(images) - first) < ticks:
        rclpy.spin_once(node, timeout_sec=0.1)
        if time.monotonic() - shown > 10:
            print(f"  {seen}/{ticks} ticks", file=sys.stderr, flush=True)
            shown = time.monotonic()
    end = time.time_ns()
    cpu = {name: (cpu_seconds(pid) - cpu[name]) / ((end - start) / 1e9) for name, pid in pids.items()}
    drained = time.monotonic() + 0.5  # the commands for the last images of the window
    while time.monotonic() < drained:
        rclpy.spin_once(node, timeout_sec=0.05)
    node.destroy_node()
    rclpy.shutdown()
    # The window is the images counted (by receipt: an image stamped just before ``start`` may arrive after
    # it), and the commands stamped among them whose image this node missed (best effort).
    counted = images[first:]
    window = set(counted) | {s for s in commands if counted[0] <= s <= counted[-1]}
    return {"start": start, "end": end, "latency_ms": [(commands[s] - s) / 1e6 if s in commands else None
                                                       for s in sorted(window)], "cpu": cpu, "policy": policy}


def row(name: str, latencies: list[float | None], period_ms: float, cpu: float) -> tuple:
    """One table row: name, ticks, p50, p99 and max latency (ms), missed deadlines, CPU (% of one core)."""
    values = np.array([v for v in latencies if v is not None])
    missed = sum(v is None or v > period_ms for v in latencies)
    p50, p99 = np.percentile(values, [50, 99])
    return name, len(latencies), float(p50), float(p99), float(values.max()), missed, 100 * cpu
