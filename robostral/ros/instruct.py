"""Send an instruction to the running graph and wait for the simulator to report it done.

The instruction goes out latched on ``/robostral/instruction``; the outcome is read
from the sim driver's ``/diagnostics`` (success for this instruction) and the policy
node's latency figures are collected on the way.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from std_msgs.msg import String

from robostral.ros import contract
from robostral.ros.messages import diagnostic_values


@dataclass
class Outcome:
    instruction: str
    success: bool
    seconds: float
    detail: str  # the sim driver's last message ("task succeeded", "there is no yellow cube...")
    policy: dict[str, str] = field(default_factory=dict)  # the policy node's last diagnostic values


def instruct(text: str, timeout: float, node=None) -> Outcome:
    """Publish ``text`` and wait up to ``timeout`` s for success; uses ``node`` or a temporary one."""
    own = node is None
    if own:
        rclpy.init(args=[])
        node = rclpy.create_node("robostral_instruct")
    status: dict[str, dict] = {}

    def on_diagnostics(msg: DiagnosticArray) -> None:
        for entry in msg.status:
            status[entry.name] = {"message": entry.message, **diagnostic_values(entry)}

    subscription = node.create_subscription(DiagnosticArray, contract.DIAGNOSTICS, on_diagnostics,
                                            contract.DIAGNOSTICS_QOS)
    publisher = node.create_publisher(String, contract.INSTRUCTION, contract.LATCHED_QOS)
    try:
        publisher.publish(String(data=text))
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            rclpy.spin_once(node, timeout_sec=0.05)
            sim = status.get("sim_driver", {})
            if sim.get("instruction") == text and sim.get("success") == "True":
                break
        sim = status.get("sim_driver", {})
        done = sim.get("instruction") == text and sim.get("success") == "True"
        return Outcome(text, done, time.monotonic() - started, sim.get("message", "no report from the sim driver"),
                       status.get("policy_node", {}))
    finally:
        node.destroy_subscription(subscription)
        node.destroy_publisher(publisher)
        if own:
            node.destroy_node()
            rclpy.shutdown()
